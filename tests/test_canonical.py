"""Pose and expression from 68 landmarks: synthetic faces, then real MEAD frames (8 emotions)."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.faces import canonical
from tests.helpers import face_landmarks


def _project(yaw: float, pitch: float, roll: float, distance: float = 600.0) -> np.ndarray:
    """FACE_3D seen by a pinhole camera (focal 224 px) after a head rotation in degrees."""
    index = list(canonical.FACE_3D)
    model = np.array([canonical.FACE_3D[i] for i in index])
    y, p, r = np.radians([-yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    camera = model @ (rz @ ry @ rx).T + (0, 0, distance)
    points = np.zeros((68, 2))
    points[index] = camera[:, :2] / camera[:, 2:] * 224 + 112
    return points


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (25, 0, 0), (-25, 0, 0), (0, 15, 0),
                                            (0, -15, 0), (0, 0, 12), (20, -10, 5)])  # fmt: skip
def test_head_pose_recovers_rotations(yaw, pitch, roll):
    got = canonical.head_pose(_project(yaw, pitch, roll))
    # a near-orthographic solve of a perspective view: within 15 % + 3 degrees
    np.testing.assert_allclose(got, (yaw, pitch, roll), atol=3 + 0.15 * max(abs(yaw), 15))


def test_head_pose_signs_follow_the_image():
    frontal = _project(0, 0, 0)
    turned = _project(20, 0, 0)
    assert turned[30, 0] - turned[27, 0] > frontal[30, 0] - frontal[27, 0]  # nose to the right
    assert canonical.head_pose(turned)[0] > 10
    lifted = _project(0, 15, 0)
    assert lifted[30, 1] - lifted[36, 1] < frontal[30, 1] - frontal[36, 1]  # nose tip rises
    assert canonical.head_pose(lifted)[1] > 8
    assert canonical.head_pose(np.stack([frontal, turned])).shape == (2, 3)


def test_measures_of_a_synthetic_face():
    m = canonical.expression_measures(face_landmarks(mouth_gap=0.25, eye_aspect=0.3))
    assert m["mouth_opening"] == pytest.approx(0.25, abs=1e-4)
    assert m["eye_opening"] == pytest.approx(0.3, abs=1e-4)
    assert m["eye_closure"] == 0
    assert m["mouth_asymmetry"] == pytest.approx(0, abs=1e-6)
    blink = canonical.expression_measures(face_landmarks(eye_aspect=0.1))
    assert blink["eye_closure"] == pytest.approx(canonical.BLINK_EAR - 0.1, abs=1e-4)


def test_score_grows_with_mouth_eyes_and_pose():
    neutral = canonical.canonical_score(face_landmarks())
    assert neutral < 2
    assert canonical.canonical_score(face_landmarks(mouth_gap=0.2)) > neutral + 5
    assert canonical.canonical_score(face_landmarks(eye_aspect=0.1)) > neutral + 5
    assert canonical.canonical_score(face_landmarks(eye_aspect=0.45)) > neutral + 1.5
    assert (
        canonical.canonical_score(_project(30, 0, 0))
        > canonical.canonical_score(_project(0, 0, 0)) + 2
    )


def test_close_mouth():
    open_ = face_landmarks(mouth_gap=0.3)
    closed = canonical.close_mouth(open_)
    assert canonical.mouth_opening(closed) == pytest.approx(canonical.CLOSED_GAP, abs=1e-4)
    np.testing.assert_array_equal(closed[:48], np.where(np.isin(np.arange(48), list(
        canonical.JAW_SHARE))[:, None], closed[:48], open_[:48]))  # fmt: skip
    lift = open_[57, 1] - closed[57, 1]
    assert lift > 0 and closed[8, 1] == pytest.approx(open_[8, 1] - lift, abs=1e-3)
    np.testing.assert_array_equal(closed[48:55], open_[48:55])  # the upper lip stays
    already = face_landmarks(mouth_gap=0.01)
    np.testing.assert_allclose(canonical.close_mouth(already), already, atol=1e-5)
    assert canonical.close_mouth(np.stack([open_, already])).shape == (2, 68, 2)


def test_neutral_geometry_and_most_canonical():
    faces = np.stack(
        [face_landmarks(0.0), face_landmarks(0.3), face_landmarks(0.0, size=200), face_landmarks()]
    )
    ids = np.array(["a", "a", "b", "b"])
    scores = np.array([1.0, 9.0, 2.0, 30.0])
    target = canonical.neutral_geometry(faces, ids, scores)
    np.testing.assert_array_equal(target[0], target[1])  # one target per identity
    assert canonical.mouth_opening(target[:2]).max() <= canonical.CLOSED_GAP + 1e-4
    # weights exp(-(score - best) / T): face 3 of b counts exp(-28 / 3)
    assert np.abs(target[2] - faces[2]).max() < 1e-3 * np.abs(faces[3] - faces[2]).max() + 1e-3
    keep = canonical.most_canonical(np.array([1.0, 9.0, 12.0, 30.0]), ids, max_score=8.0)
    np.testing.assert_array_equal(keep, [True, False, True, False])  # b keeps its best


# --- real frames: the sample's MEAD actors, 8 emotions each ----------------------------

EMOTIONS = ("neutral", "angry", "contempt", "disgusted", "fear", "happy", "sad", "surprised")
STRONG = ("angry", "fear", "happy", "surprised")


@pytest.fixture(scope="module")
def mead_frames(data_dir):
    """Landmarks of 8 frames of every MEAD clip: {(actor, emotion): (n, 68, 2)}."""
    from speech2face import faces, video

    out = {}
    for clip in sorted((data_dir / "face_videos").glob("*/*.mp4")):
        emotion = clip.stem.split("_")[2]
        info = video.video_info(clip)
        times = [(i + 0.5) * info.duration / 8 for i in range(8)]
        found = [faces.find_face(frame) for _, frame in video.read_frames(clip, times)]
        points = [f.landmarks for f in found if f is not None]
        out[(clip.parent.name, emotion)] = np.stack(points)
    return out


@pytest.mark.slow
def test_scores_prefer_neutral_frontal_frames_of_mead(mead_frames):
    actors = sorted({actor for actor, _ in mead_frames})
    assert len(actors) == 3 and all((a, e) in mead_frames for a in actors for e in EMOTIONS)
    picked = []
    for actor in actors:
        score = {e: canonical.canonical_score(mead_frames[actor, e]) for e in EMOTIONS}
        # the neutral clip scores better than each clip of a strong emotion
        for emotion in STRONG:
            assert np.median(score["neutral"]) < np.median(score[emotion]), (actor, emotion)
        # and the actor's most canonical frames are neutral far more often than 1 in 8
        labels = np.concatenate([[e] * len(score[e]) for e in EMOTIONS])
        best = labels[np.argsort(np.concatenate([score[e] for e in EMOTIONS]))[:4]]
        picked.extend(best)
        everything = np.concatenate([mead_frames[actor, e] for e in EMOTIONS])
        top = everything[np.argsort(np.concatenate([score[e] for e in EMOTIONS]))[:4]]
        assert canonical.mouth_opening(top).mean() < canonical.mouth_opening(everything).mean()
        assert np.abs(canonical.head_pose(top)[:, :2]).max() < 15
    assert np.mean(np.array(picked) == "neutral") >= 0.4


@pytest.mark.slow
def test_neutral_targets_of_mead_close_the_mouth(mead_frames):
    actor = "mead_W009"
    points = np.concatenate([mead_frames[actor, e] for e in EMOTIONS])
    target = canonical.neutral_geometry(points, np.full(len(points), actor))
    assert canonical.mouth_opening(points).mean() > 0.08  # MEAD actors talk
    assert canonical.mouth_opening(target[0]) <= canonical.CLOSED_GAP + 1e-3
    # the target is the actor's face: eyes where they were on average, within 2 px
    np.testing.assert_allclose(target[0, 36:48], points[:, 36:48].mean(0), atol=2)
