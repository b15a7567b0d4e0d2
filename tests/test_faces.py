"""Faces on the real photos and clip frames of ../shared/data, and on bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from speech2face import faces, video
from speech2face.faces import alignment as align_module


@pytest.fixture(scope="module")
def photos(data_dir):
    return sorted(p for p in data_dir.glob("faces/*/*") if p.suffix in (".jpg", ".jpeg"))


@pytest.fixture(scope="module")
def aligned_photos(photos):
    return [(p.parent.name, faces.find_face(faces.read_image(p))) for p in photos]


@pytest.mark.slow
def test_face_in_every_photo(aligned_photos):
    assert len(aligned_photos) >= 30
    missing = [name for name, face in aligned_photos if face is None]
    assert not missing
    for _, face in aligned_photos:
        assert face.image.shape == (224, 224, 3) and face.image.dtype == np.uint8
        assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32


@pytest.mark.slow
def test_landmark_order(aligned_photos):
    for _, face in aligned_photos:
        pts = face.landmarks
        eyes_y = pts[36:48, 1].mean()
        nose_tip_y = pts[30, 1]
        mouth_y = pts[48:68, 1].mean()
        assert eyes_y < nose_tip_y < mouth_y < pts[8, 1]  # ... above the chin
        assert pts[36:42, 0].mean() < pts[42:48, 0].mean()  # image-left eye is on the left
        # aligned: the eyes land near the template (0.40 of the height)
        assert abs(eyes_y / 224 - 0.40) < 0.05


@pytest.mark.slow
def test_dlib_verification_accuracy(aligned_photos):
    enc = faces.get_encoder("dlib")
    ids = [name for name, _ in aligned_photos]
    feats = enc.encode(
        np.stack([f.image for _, f in aligned_photos]),
        np.stack([f.landmarks for _, f in aligned_photos]),
    )
    assert feats.shape == (len(ids), 128) and feats.dtype == np.float32
    correct = total = 0
    for i, j in itertools.combinations(range(len(ids)), 2):
        same = ids[i] == ids[j]
        correct += (np.linalg.norm(feats[i] - feats[j]) < 0.6) == same
        total += 1
    accuracy = correct / total
    print(f"dlib verification accuracy over {total} pairs: {accuracy:.4f}")
    assert accuracy > 0.9


@pytest.mark.slow
def test_encode_without_landmarks_is_close(aligned_photos):
    enc = faces.get_encoder("dlib")
    face = aligned_photos[0][1]
    guided = enc.encode(face.image[None], face.landmarks[None])
    free = enc.encode(face.image[None])
    assert np.linalg.norm(guided - free) < 0.2


@pytest.mark.parametrize(
    "clip", ["av/vox2_a00015/00015.mp4", "av/mead_M030/M030_sad_3_001.mp4", "av/grid_s2/pwij3p.mpg"]
)
def test_face_in_clip_frames(data_dir, clip):
    info = video.video_info(data_dir / clip)
    ((t, frame),) = video.read_frames(data_dir / clip, [info.duration / 2])
    assert abs(t - info.duration / 2) < 0.1
    face = faces.find_face(frame)
    assert face is not None
    anchors = align_module.anchor_points(face.landmarks)  # eyes and mouth on the template
    assert np.abs(anchors - align_module.TEMPLATE * 224).max() < 12


@pytest.mark.slow
def test_face_in_every_talking_clip(data_dir):
    clips = sorted(p for p in data_dir.glob("av/*/*") if p.suffix in (".mp4", ".mpg"))
    missing = []
    for clip in clips:
        ((_, frame),) = video.read_frames(clip, [0.5])
        if faces.find_face(frame) is None:
            missing.append(clip.name)
    assert len(clips) >= 30 and not missing


def test_no_face_gives_none():
    blank = np.full((300, 400, 3), 127, np.uint8)
    assert faces.detect_faces(blank) == []
    assert faces.find_face(blank) is None


def _two_faces(aligned_photos):
    """Two real faces side by side: a 300 px one on the left, a 200 px one on the right."""
    big = np.asarray(Image.fromarray(aligned_photos[0][1].image).resize((300, 300)))
    small = np.asarray(Image.fromarray(aligned_photos[-1][1].image).resize((200, 200)))
    canvas = np.zeros((300, 560, 3), np.uint8)
    canvas[:, :300] = big
    canvas[50:250, 340:540] = small
    return canvas, 320


@pytest.mark.slow
def test_several_faces_policy(aligned_photos):
    canvas, split = _two_faces(aligned_photos)
    found = faces.detect_faces(canvas)
    assert len(found) == 2
    largest = faces.choose_face(found, canvas.shape)
    assert largest.center[0] < split  # the larger photo is on the left
    right = faces.choose_face(found, canvas.shape, hint=(0.95, 0.3))
    assert right.center[0] > split
    hinted = faces.find_face(canvas, hint=(0.95, 0.3))
    assert hinted.box == right.box


def test_small_faces_ignored(photos):
    img = faces.read_image(photos[1])
    found = faces.detect_faces(img)
    assert found
    assert faces.detect_faces(img, min_size=int(found[0].width) + 10) == []


def test_corrupt_and_truncated_images(tmp_path, photos):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with pytest.raises(faces.FaceError, match="bad.jpg: cannot read image"):
        faces.read_image(bad)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(photos[0].read_bytes()[:5000])
    with pytest.raises(faces.FaceError, match="cut.jpg"):
        faces.read_image(cut)
    with pytest.raises(faces.FaceError, match="not found"):
        faces.read_image(tmp_path / "none.jpg")


@pytest.mark.slow
def test_mode_conversions(tmp_path, photos):
    rgb = faces.read_image(photos[2])
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    for name in ("gray.png", "rgba.png", "deep.png"):
        img = faces.read_image(tmp_path / name)
        assert img.dtype == np.uint8 and img.shape == rgb.shape
        assert faces.find_face(img) is not None, name
    deep = faces.read_image(tmp_path / "deep.png")
    np.testing.assert_array_equal(deep[..., 0], rgb[..., 0])
    assert faces.to_rgb_uint8(rgb.astype(np.float32) / 255).dtype == np.uint8


@pytest.mark.slow
def test_large_image_is_downscaled_for_detection(photos):
    img = faces.read_image(photos[3])
    big = np.asarray(Image.fromarray(img).resize((4000, 3000)))
    face = faces.find_face(big)
    assert face is not None
    assert face.box[2] - face.box[0] > 300  # box mapped back to the 4000 px frame


@pytest.mark.slow
def test_cnn_detector(photos):
    img = faces.read_image(photos[4])
    hog = faces.detect_faces(img, "hog")
    cnn = faces.detect_faces(img, "cnn")
    assert len(cnn) == 1 and len(hog) == 1
    assert np.abs(np.array(cnn[0].center) - np.array(hog[0].center)).max() < 0.15 * hog[0].width
    with pytest.raises(ValueError, match="unknown face detector"):
        faces.detect_faces(img, "mtcnn")


def test_unknown_encoder_and_vggface_without_weights():
    with pytest.raises(faces.FaceError, match="unknown face encoder"):
        faces.get_encoder("arcface")
    with pytest.raises(faces.FaceError, match="rcmalli_vggface_tf_vgg16.h5"):
        faces.get_encoder("vggface")
