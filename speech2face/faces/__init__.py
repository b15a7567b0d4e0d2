"""The face side: read images, detect faces, 68 landmarks, align, face features.

Plain functions on RGB uint8 numpy images (after ageitgey/face_recognition's api.py),
on top of dlib (detection, landmarks, descriptor) and OpenCV (alignment warp).

    >>> from speech2face import faces
    >>> image = faces.read_image("photo.jpg")
    >>> face = faces.find_face(image)            # AlignedFace or None
    >>> feature = faces.get_encoder("dlib").encode(face.image[None], face.landmarks[None])
"""

from __future__ import annotations

import numpy as np

from speech2face.faces.alignment import CROP_SIZE, AlignedFace, align
from speech2face.faces.detect import DETECTOR, Face, choose_face, detect_faces, landmarks
from speech2face.faces.encoders import DlibEncoder, FaceEncoder, VGGFaceEncoder, get_encoder
from speech2face.faces.image import FaceError, read_image, to_rgb_uint8

__all__ = [
    "CROP_SIZE",
    "AlignedFace",
    "Face",
    "FaceEncoder",
    "DlibEncoder",
    "VGGFaceEncoder",
    "FaceError",
    "align",
    "align_face",
    "choose_face",
    "detect_faces",
    "find_face",
    "get_encoder",
    "landmarks",
    "read_image",
    "to_rgb_uint8",
]


def align_face(image: np.ndarray, face: Face, size: int = CROP_SIZE) -> AlignedFace:
    """Landmark one detected face and return its aligned crop (see ``AlignedFace``)."""
    points = landmarks(image, face)
    crop, crop_points, matrix = align(image, points, size)
    return AlignedFace(crop, crop_points, matrix, face.box, face.score)


def find_face(
    image: np.ndarray,
    detector: str = DETECTOR,
    hint: tuple[float, float] | None = None,
    size: int = CROP_SIZE,
    min_size: int | None = None,
) -> AlignedFace | None:
    """Detect, choose, landmark and align the main face of an image.

    Args:
        image: RGB uint8 (H, W, 3); grayscale/RGBA/16-bit arrays are converted.
        detector: "hog" or "cnn".
        hint: (x, y) fractions of the frame; the face nearest it is chosen, else the largest.
        size: side of the aligned crop in pixels.
        min_size: faces narrower than this many pixels are ignored (default 40).
    Returns:
        The aligned face, or None when no face is found.
    """
    image = to_rgb_uint8(image)
    kwargs = {} if min_size is None else {"min_size": min_size}
    face = choose_face(detect_faces(image, detector, **kwargs), image.shape, hint)
    return None if face is None else align_face(image, face, size)
