"""Canonical face crops by a similarity transform from the eyes and mouth (OpenCV).

The template puts the eye centres and the mouth centre at fixed fractions of the crop,
so every crop has the same scale and pose: what the face decoder learns to render.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CROP_SIZE = 224  # px, the VGG-Face input size and the paper decoder's output size
# Template as fractions of the crop side: (x, y) of image-left eye, image-right eye, mouth.
TEMPLATE = np.array([[0.34, 0.40], [0.66, 0.40], [0.50, 0.74]], dtype=np.float32)


@dataclass
class AlignedFace:
    """An aligned face crop.

    Attributes:
        image: (size, size, 3) uint8 RGB crop.
        landmarks: (68, 2) float32 (x, y) landmarks in crop pixels.
        matrix: (2, 3) float64 similarity transform from the source image to the crop.
        box: (left, top, right, bottom) of the detection in the source image.
        score: detector score.
    """

    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    box: tuple[float, float, float, float]
    score: float


def anchor_points(points68: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks -> (3, 2) float32: image-left eye centre, image-right eye, mouth."""
    points68 = np.asarray(points68, np.float32)
    return np.stack(
        [points68[36:42].mean(0), points68[42:48].mean(0), points68[48:68].mean(0)]
    ).astype(np.float32)


def alignment_matrix(points68: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Least-squares similarity transform (2, 3) mapping the anchors onto the template."""
    import cv2

    src = anchor_points(points68)
    dst = TEMPLATE * size
    # OpenCV offers this 4-parameter fit only through RANSAC or LMedS. RANSAC's minimal
    # sample is two points, which a normal threshold would fit exactly and then drop the
    # third anchor as an outlier; a threshold of 1e6 px keeps all three anchors as inliers,
    # so the final refinement is the least-squares fit over both eyes and the mouth.
    matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1e6)
    if matrix is None:  # degenerate points (all equal): fall back to a translation
        matrix = np.array([[1, 0, dst[2, 0] - src[2, 0]], [0, 1, dst[2, 1] - src[2, 1]]], float)
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (N, 2) points -> (N, 2) float32."""
    points = np.asarray(points, np.float64)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def align(image: np.ndarray, points68: np.ndarray, size: int = CROP_SIZE):
    """Warp ``image`` so the face with landmarks ``points68`` sits on the template.

    Args:
        image: (H, W, 3) uint8 RGB.
        points68: (68, 2) landmarks in image pixels.
        size: crop side in pixels.
    Returns:
        (crop (size, size, 3) uint8, landmarks (68, 2) float32 in crop pixels, matrix (2, 3)).
    """
    import cv2

    matrix = alignment_matrix(points68, size)
    crop = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return crop, transform_points(points68, matrix), matrix
