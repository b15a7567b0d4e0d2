"""Face detection and 68-point landmarks with dlib, and the choice of the speaker's face.

Detectors: dlib's HOG frontal detector (fast, default) and dlib's CNN (MMOD) detector.
Landmarks: dlib's 68-point shape predictor (iBUG 300-W order: 0-16 jaw, 17-26 brows,
27-35 nose, 36-41 right eye of the subject (left in the image), 42-47 other eye, 48-67 mouth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speech2face.faces import dlib_files

DETECT_SIDE = 640  # px: frames are scaled so the longer side is at most this for detection
DETECTOR = "hog"  # the default dlib face detector everywhere: hog (fast) or cnn (MMOD)
DETECTORS = ("hog", "cnn")
UPSAMPLE_BELOW = 400  # px: smaller frames are upsampled once so small faces are found
MIN_FACE = 40  # px: faces narrower than this (in the original image) are ignored


@dataclass(frozen=True)
class Face:
    """A detected face.

    Attributes:
        box: (left, top, right, bottom) in pixels of the original image, float.
        score: detector confidence (HOG SVM margin or MMOD score; higher is surer).
    """

    box: tuple[float, float, float, float]
    score: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) centre in pixels."""
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


def detect_faces(
    image: np.ndarray,
    detector: str = DETECTOR,
    detect_side: int = DETECT_SIDE,
    min_size: int = MIN_FACE,
) -> list[Face]:
    """Find faces in an RGB uint8 image (H, W, 3).

    Large images are downscaled so their longer side is ``detect_side`` and boxes mapped
    back; small ones are upsampled once. Faces narrower than ``min_size`` pixels (original
    scale) are dropped.

    Args:
        detector: "hog" (dlib HOG + SVM) or "cnn" (dlib MMOD CNN, slower, more robust).
    Returns:
        Faces sorted by decreasing width; empty list when none is found.
    Raises:
        ValueError: unknown detector.
    """
    import cv2

    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}: use 'hog' or 'cnn'")
    h, w = image.shape[:2]
    scale = min(1.0, detect_side / max(h, w))
    small = image
    if scale < 1.0:
        small = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
    upsample = 1 if max(small.shape[:2]) < UPSAMPLE_BELOW else 0
    found: list[Face] = []
    if detector == "hog":
        rects, scores, _ = dlib_files.hog_detector().run(small, upsample, 0.0)
        pairs = list(zip(rects, scores, strict=True))
    else:
        pairs = [(d.rect, d.confidence) for d in dlib_files.cnn_detector()(small, upsample)]
    for rect, score in pairs:
        box = (rect.left() / scale, rect.top() / scale, rect.right() / scale, rect.bottom() / scale)
        box = (max(box[0], 0.0), max(box[1], 0.0), min(box[2], w - 1.0), min(box[3], h - 1.0))
        face = Face(box=box, score=float(score))
        if face.width >= min_size:
            found.append(face)
    return sorted(found, key=lambda f: -f.width)


def choose_face(
    faces: list[Face], image_shape: tuple[int, ...], hint: tuple[float, float] | None = None
) -> Face | None:
    """Pick the speaker's face: the one nearest ``hint``, else the largest.

    Args:
        faces: detections in the image.
        image_shape: (H, W, ...) of the image.
        hint: optional (x, y) of the face centre as fractions of width and height
            (the AVSpeech CSV convention).
    Returns:
        The chosen face, or None when ``faces`` is empty.
    """
    if not faces:
        return None
    if hint is None:
        return max(faces, key=lambda f: f.width)
    px, py = hint[0] * image_shape[1], hint[1] * image_shape[0]
    return min(faces, key=lambda f: (f.center[0] - px) ** 2 + (f.center[1] - py) ** 2)


def landmarks(image: np.ndarray, face: Face) -> np.ndarray:
    """68 facial landmarks of ``face`` in ``image`` (RGB uint8).

    Returns:
        (68, 2) float32 (x, y) pixel coordinates, iBUG 300-W order.
    """
    import dlib

    left, top, right, bottom = (int(round(v)) for v in face.box)
    shape = dlib_files.shape_predictor()(image, dlib.rectangle(left, top, right, bottom))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
