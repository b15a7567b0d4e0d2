"""Paths of dlib's model files shipped by the face-recognition-models package.

The package is located with ``importlib.util.find_spec`` and never imported: its
``__init__`` needs pkg_resources, which recent setuptools no longer ships.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from speech2face.errors import UserError

LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
RESNET_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"


@functools.cache
def model_path(filename: str) -> Path:
    """Absolute path of one dlib model file.

    Raises:
        UserError: the face-recognition-models package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise UserError(
            "the face-recognition-models package is not installed: "
            "pip install face-recognition-models==0.3.0"
        )
    path = Path(spec.origin).parent / "models" / filename
    if not path.is_file():
        raise UserError(f"{path}: dlib model file missing; reinstall face-recognition-models")
    return path


@functools.cache
def hog_detector():
    """dlib's HOG + linear SVM frontal face detector (cached per process)."""
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def cnn_detector():
    """dlib's CNN (MMOD) face detector (cached per process)."""
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_path(MMOD_DETECTOR)))


@functools.cache
def shape_predictor():
    """dlib's 68-point shape predictor (iBUG 300-W landmarks; cached per process)."""
    import dlib

    return dlib.shape_predictor(str(model_path(LANDMARKS_68)))


@functools.cache
def resnet_descriptor():
    """dlib's ResNet face descriptor, 128-D (cached per process)."""
    import dlib

    return dlib.face_recognition_model_v1(str(model_path(RESNET_DESCRIPTOR)))
