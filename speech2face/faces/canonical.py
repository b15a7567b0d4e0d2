"""How frontal and how neutral a face is, from its 68 landmarks; neutral landmark targets.

The face decoder of Cole et al. (CVPR 2017) renders faces "in a canonical form
(frontal-facing and with neutral expression)" (Speech2Face, Oh et al. CVPR 2019, §3.2).
These measures choose such faces among video frames and photos, and give the landmark
targets the identity's neutral geometry:

- head pose (yaw, pitch, roll in degrees) by OpenCV's ``solvePnP`` against a generic rigid
  3-D face;
- mouth opening: inner-lip gap over the outer inter-ocular distance (0 when closed);
- eye opening: the eye aspect ratio (Soukupová and Čech, CVWW 2016), and eye closure below
  a blink threshold;
- mouth width (a smile widens it), brow height (surprise lifts it, anger lowers it),
  mouth asymmetry (contempt);
- :func:`canonical_score`: the weighted distance of these from a frontal neutral face;
- :func:`most_canonical`: which faces of each identity to keep;
- :func:`close_mouth` and :func:`neutral_geometry`: landmark targets of an identity.

All functions take (..., 68, 2) (x, y) landmarks in any pixel units (iBUG 300-W order).
"""

from __future__ import annotations

import numpy as np

# Generic rigid face for solvePnP: iBUG index -> (x, y, z) in mm, x to the image right, y
# down, z away from the camera. x and y are the mean frontal layout of the sample's MEAD
# neutral frames (outer eye corners 90 mm apart); z are rounded adult anthropometric depths
# relative to the inner eye corners (nose tip 32 mm in front, outer eye corners 15 mm behind).
FACE_3D = {
    27: (0.0, -5.0, -12.0),  # sellion (nose bridge between the eyes)
    30: (0.0, 26.0, -32.0),  # pronasale (nose tip)
    33: (0.0, 43.0, -14.0),  # subnasale
    36: (-45.0, 0.0, 15.0),  # outer eye corner, image left
    39: (-18.5, 1.0, 0.0),  # inner eye corner
    42: (18.5, 1.0, 0.0),
    45: (45.0, 0.0, 15.0),
    48: (-26.0, 70.5, 2.0),  # mouth corners
    54: (26.0, 70.5, 2.0),
    51: (0.0, 56.5, -12.0),  # upper lip
    57: (0.0, 84.5, -10.0),  # lower lip
    8: (0.0, 119.0, -2.0),  # chin
}

# A frontal neutral face (means over the sample's MEAD neutral frames with closed mouths and
# its photos of neutral faces) and the spread that counts as one unit of the score.
NEUTRAL = {
    "mouth_opening": (0.0, 0.03),
    "eye_opening": (0.32, 0.06),
    "eye_closure": (0.0, 0.02),
    "mouth_width": (0.60, 0.05),
    "brow_height": (0.24, 0.03),
    "mouth_asymmetry": (0.0, 0.03),
}
BLINK_EAR = 0.22  # eye aspect ratio below which eyes count as closing (blink, squint)
POSE_UNIT_DEG = 10.0  # yaw or pitch of this many degrees adds one unit to the score
CLOSED_GAP = 0.02  # inner-lip gap of a closed mouth, in outer inter-ocular distances
SCORE_TEMPERATURE = 3.0  # score units: a face 3 units worse weighs 1/e in neutral_geometry

# iBUG 300-W points of each part
UPPER_INNER_LIP, LOWER_INNER_LIP = (61, 62, 63), (67, 66, 65)
INNER_LIPS = UPPER_INNER_LIP + LOWER_INNER_LIP  # without the inner mouth corners 60, 64
OUTER_LOWER_LIP = (55, 56, 57, 58, 59)
# chin and lower jaw follow the lower lip when the mouth opens (the jaw turns about the ears)
JAW_SHARE = {4: 0.2, 5: 0.4, 6: 0.6, 7: 0.85, 8: 1.0, 9: 0.85, 10: 0.6, 11: 0.4, 12: 0.2}


def _dist(p: np.ndarray, a, b) -> np.ndarray:
    return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)


def _eye_span(p: np.ndarray) -> np.ndarray:
    return _dist(p, 36, 45)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Mean gap between the inner lips (pairs 61-67, 62-66, 63-65) over the outer
    inter-ocular distance (36-45): 0 for a closed mouth, ~0.3 for speech, ~0.6 wide open.

    Args:
        landmarks: (..., 68, 2) (x, y).
    Returns:
        (...) float64, unitless.
    """
    p = np.asarray(landmarks, np.float64)
    gap = [_dist(p, a, b) for a, b in zip(UPPER_INNER_LIP, LOWER_INNER_LIP, strict=True)]
    gap = np.mean(gap, axis=0)
    return gap / _eye_span(p)


def eye_opening(landmarks: np.ndarray) -> np.ndarray:
    """Eye aspect ratio (Soukupová and Čech 2016), mean of both eyes: lid distances over
    the eye's width; ~0.3 open, < 0.2 squinting or closed, > 0.4 wide (surprise, fear).

    Returns:
        (...) float64.
    """
    p = np.asarray(landmarks, np.float64)
    right = (_dist(p, 37, 41) + _dist(p, 38, 40)) / (2 * _dist(p, 36, 39))
    left = (_dist(p, 43, 47) + _dist(p, 44, 46)) / (2 * _dist(p, 42, 45))
    return (right + left) / 2


def mouth_width(landmarks: np.ndarray) -> np.ndarray:
    """Distance of the mouth corners (48-54) over the outer inter-ocular distance; (...)."""
    p = np.asarray(landmarks, np.float64)
    return _dist(p, 48, 54) / _eye_span(p)


def brow_height(landmarks: np.ndarray) -> np.ndarray:
    """Mean height of the brows above the eyes over the outer inter-ocular distance; (...)."""
    p = np.asarray(landmarks, np.float64)
    right = p[..., 36:42, 1].mean(-1) - p[..., 17:22, 1].mean(-1)
    left = p[..., 42:48, 1].mean(-1) - p[..., 22:27, 1].mean(-1)
    return (right + left) / 2 / _eye_span(p)


def mouth_asymmetry(landmarks: np.ndarray) -> np.ndarray:
    """Height difference of the mouth corners, relative to the eye line's tilt, over the
    outer inter-ocular distance; (...) >= 0 (a one-sided smile, contempt)."""
    p = np.asarray(landmarks, np.float64)
    eye_tilt = (p[..., 45, 1] - p[..., 36, 1]) / np.maximum(p[..., 45, 0] - p[..., 36, 0], 1e-6)
    corner = p[..., 54, 1] - p[..., 48, 1] - eye_tilt * (p[..., 54, 0] - p[..., 48, 0])
    return np.abs(corner) / _eye_span(p)


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """Yaw, pitch and roll of the head, by ``cv2.solvePnP`` on a generic rigid face.

    The camera is nearly orthographic (focal length 20 outer inter-ocular distances,
    principal point at the landmarks' centre), so crops and whole frames need no camera
    parameters.

    Args:
        landmarks: (68, 2) or (N, 68, 2) (x, y) pixels, y down.
    Returns:
        (3,) or (N, 3) float64 degrees: yaw > 0 when the nose turns towards the image
        right, pitch > 0 when the chin lifts, roll > 0 when the face turns clockwise in the
        image; about (0, 0, 0) for a frontal face; NaN where solvePnP fails.
    """
    import cv2

    p = np.asarray(landmarks, np.float64)
    single = p.ndim == 2
    p = p.reshape(-1, 68, 2)
    index = list(FACE_3D)
    model = np.array([FACE_3D[i] for i in index], np.float64)
    model -= model.mean(0)
    out = np.full((len(p), 3), np.nan)
    for k, points in enumerate(np.ascontiguousarray(p[:, index])):
        focal = 20 * float(_eye_span(p[k]))
        cx, cy = points.mean(0)
        camera = np.array([[focal, 0, cx], [0, focal, cy], [0, 0, 1]], np.float64)
        ok, rvec, _ = cv2.solvePnP(model, points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            continue
        r, _ = cv2.Rodrigues(rvec)
        # r = Rz(roll) Ry(-yaw) Rx(-pitch) in camera axes (x right, y down, z forward)
        yaw = -np.degrees(np.arcsin(np.clip(-r[2, 0], -1, 1)))
        pitch = -np.degrees(np.arctan2(r[2, 1], r[2, 2]))
        roll = np.degrees(np.arctan2(r[1, 0], r[0, 0]))
        out[k] = (yaw, pitch, roll)
    return out[0] if single else out


def expression_measures(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """{name: (...) values} of the measures in :data:`NEUTRAL` (unitless ratios);
    "eye_closure" is how far the eye aspect ratio is below :data:`BLINK_EAR` (a blink
    costs more than eyes a little narrower than usual)."""
    eyes = eye_opening(landmarks)
    return {
        "mouth_opening": mouth_opening(landmarks),
        "eye_opening": eyes,
        "eye_closure": np.maximum(BLINK_EAR - eyes, 0.0),
        "mouth_width": mouth_width(landmarks),
        "brow_height": brow_height(landmarks),
        "mouth_asymmetry": mouth_asymmetry(landmarks),
    }


def canonical_score(landmarks: np.ndarray) -> np.ndarray:
    """How far a face is from frontal and neutral: 0 for a frontal neutral face.

    The sum of |measure - neutral| / spread over :data:`NEUTRAL` plus (|yaw| + |pitch|) /
    :data:`POSE_UNIT_DEG`. Roll does not count: alignment removes it.

    Args:
        landmarks: (68, 2) or (N, 68, 2) (x, y) pixels.
    Returns:
        () or (N,) float64 >= 0; lower is more canonical.
    """
    p = np.asarray(landmarks, np.float64)
    score = sum(
        np.abs(values - NEUTRAL[name][0]) / NEUTRAL[name][1]
        for name, values in expression_measures(p).items()
    )
    pose = head_pose(p)
    return score + np.nan_to_num(np.abs(pose[..., :2]).sum(-1), nan=90.0) / POSE_UNIT_DEG


def close_mouth(landmarks: np.ndarray, gap: float = CLOSED_GAP) -> np.ndarray:
    """The landmarks with the mouth closed: the lower lip rises until the inner lips are
    ``gap`` apart, and the chin and lower jaw follow it (a jaw turning about the ears).

    Args:
        landmarks: (..., 68, 2) (x, y) pixels, y down.
        gap: inner-lip gap left, in outer inter-ocular distances (the points do not
            coincide, so a spline through them stays well posed).
    Returns:
        (..., 68, 2) float32; unchanged where the mouth is no wider open than ``gap``.
    """
    p = np.array(landmarks, np.float64)
    opening = p[..., LOWER_INNER_LIP, 1] - p[..., UPPER_INNER_LIP, 1]  # (..., 3) pixels
    pair_lift = np.maximum(opening - gap * _eye_span(p)[..., None], 0.0)  # (..., 3)
    lift = pair_lift.mean(-1)  # (...)
    p[..., OUTER_LOWER_LIP, 1] -= lift[..., None]
    p[..., LOWER_INNER_LIP, 1] -= pair_lift  # each inner pair ends ``gap`` apart
    for i, share in JAW_SHARE.items():
        p[..., i, 1] -= share * lift
    return p.astype(np.float32)


def neutral_geometry(
    landmarks: np.ndarray, identities: np.ndarray, scores: np.ndarray | None = None
) -> np.ndarray:
    """Landmark targets in an identity's neutral geometry (after Cole et al., who average).

    Every face gets the same target as the other faces of its identity: the mean of their
    landmarks with the mouth closed (:func:`close_mouth`), each face weighted by
    exp(-(score - best score of the identity) / :data:`SCORE_TEMPERATURE`) so the most
    frontal and neutral faces count most.

    Args:
        landmarks: (N, 68, 2) (x, y) pixels of aligned crops of one size.
        identities: (N,) identity of each face.
        scores: (N,) :func:`canonical_score` values (computed when None).
    Returns:
        (N, 68, 2) float32 (x, y) pixels.
    """
    closed = close_mouth(landmarks).astype(np.float64)
    identities = np.asarray(identities)
    scores = canonical_score(landmarks) if scores is None else np.asarray(scores, np.float64)
    # grouped by identity in one pass (no loop over identities: UTKFace has ~19,000)
    _, group = np.unique(identities.astype(str), return_inverse=True)
    best = np.full(group.max() + 1, np.inf)
    np.minimum.at(best, group, scores)
    weights = np.exp(-(scores - best[group]) / SCORE_TEMPERATURE)
    total = np.zeros(len(best))
    np.add.at(total, group, weights)
    sums = np.zeros((len(best),) + closed.shape[1:])
    np.add.at(sums, group, weights[:, None, None] * closed)
    out = sums[group] / total[group][:, None, None]
    return out.astype(np.float32)


def most_canonical(
    scores: np.ndarray, identities: np.ndarray, max_score: float, keep_at_least: int = 1
) -> np.ndarray:
    """Which faces to keep: those scoring at most ``max_score``, and each identity's
    ``keep_at_least`` best whatever their score (no identity is lost).

    Args:
        scores: (N,) :func:`canonical_score` values. identities: (N,).
    Returns:
        (N,) bool.
    """
    scores = np.asarray(scores, np.float64)
    identities = np.asarray(identities)
    keep = scores <= max_score
    if not len(scores):
        return keep
    # sorted by identity, then score: each identity's first ``keep_at_least`` rows are kept
    _, codes = np.unique(identities.astype(str), return_inverse=True)
    order = np.lexsort((np.arange(len(scores)), scores, codes))
    ids = codes[order]
    starts = np.r_[0, np.flatnonzero(ids[1:] != ids[:-1]) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep[order[rank < keep_at_least]] = True
    return keep
