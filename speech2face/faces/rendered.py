"""Faces a model rendered, made ready for dlib: upscaled uint8 crops, and whether dlib finds
a face in them (Wav2Pix's landmark-detection ratio, Duarte et al. §4; used by both systems).
"""

from __future__ import annotations

import cv2
import numpy as np

from speech2face.faces.alignment import CROP_SIZE


def rendered_to_crops(images: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(N, S, S, 3) float in [0, 1] (values outside are clipped) or uint8 -> (N, size, size,
    3) uint8 crops for a face encoder (bicubic)."""
    images = np.asarray(images)
    images = images / 255.0 if images.dtype == np.uint8 else np.clip(images, 0, 1)
    return np.stack(
        [
            cv2.resize(
                (im * 255 + 0.5).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC
            )
            for im in images
        ]
    ).reshape(len(images), size, size, 3)


def faces_found(images: np.ndarray) -> np.ndarray:
    """(N,) bool: dlib finds a face and its 68 landmarks in each rendered face (N, S, S, 3
    float in [0, 1] or uint8), upscaled to 224 px first (dlib's HOG detector needs faces of
    ~80 px)."""
    from speech2face import faces

    crops = rendered_to_crops(images) if len(images) else []
    return np.array([faces.find_face(c) is not None for c in crops], bool)


def landmark_detection_ratio(images: np.ndarray) -> float:
    """Share of rendered faces (N, S, S, 3 float in [0, 1] or uint8) where dlib finds a face
    and its 68 landmarks (:func:`faces_found`); 0.0 for no faces."""
    return float(faces_found(images).mean()) if len(images) else 0.0
