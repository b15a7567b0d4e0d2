"""Wav2Pix's evaluation (Duarte et al., ICASSP 2019, §4), each figure beside its real-image
row and chance.

- landmark-detection ratio: the share of faces in which dlib's HOG detector finds a face
  (and the 68-point predictor its landmarks), on faces generated from seen (training) and
  unseen (held-out) speech, and on real faces;
- identity accuracy: a classifier fitted on the dlib descriptors of the real training faces
  (the paper fine-tuned VGG-Face, whose weights are not available offline) applied to the
  generated faces; chance is 1 / number of identities;
- FID (Fréchet distance between Gaussian fits of two feature sets) between generated and
  real faces in the dlib-descriptor space (128-D, offline), and with Inception-v3 pool
  features (2048-D, the usual FID) only when the user supplies the Keras weights file.

Descriptors of generated and real faces are computed the same way: the image is upscaled
to 224 px and dlib's 68 landmarks are fitted in the box where the face detector put the
face when the crop was cut (centred, 1 / crop_scale of the side), so every face gets a
descriptor, detected or not.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from speech2face.errors import UserError
from speech2face.faces.predicted import predicted_to_crops

log = logging.getLogger(__name__)

SIDE = 224  # px: faces are upscaled to this before dlib (HOG needs faces of ~80 px)


def crop_descriptors(images: np.ndarray, crop_scale: float) -> np.ndarray:
    """dlib 128-D descriptors of unaligned square face crops.

    Args:
        images: (N, S, S, 3) uint8 RGB crops cut by :func:`speech2face.wav2pix.pairs.square_crop`.
        crop_scale: the crop side over the detection box side used to cut them.
    Returns:
        (N, 128) float32.
    """
    import dlib

    from speech2face.faces import dlib_files

    half = SIDE / (2 * crop_scale)
    box = dlib.rectangle(
        *(
            int(round(v))
            for v in (SIDE / 2 - half, SIDE / 2 - half, SIDE / 2 + half, SIDE / 2 + half)
        )
    )
    out = np.zeros((len(images), 128), np.float32)
    for i, image in enumerate(predicted_to_crops(images, SIDE)):
        shape = dlib_files.shape_predictor()(image, box)
        out[i] = np.asarray(dlib_files.resnet_descriptor().compute_face_descriptor(image, shape))
    return out


def identity_classifier(descriptors: np.ndarray, identities: np.ndarray):
    """A linear classifier (logistic regression on L2-normalised descriptors) of identity.

    Returns:
        A fitted scikit-learn pipeline with ``predict``.
    Raises:
        UserError: fewer than two identities.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    if len(set(identities)) < 2:
        raise UserError("the identity classifier needs faces of two or more identities")
    clf = make_pipeline(Normalizer(), LogisticRegression(C=10.0, max_iter=2000))
    return clf.fit(descriptors, identities)


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Identity accuracy of (N,) predicted names against the (N,) true ones.

    Returns:
        {"accuracy": share right, "balanced": mean over identities of their share right,
        "n", "interval": the 95 % bootstrap interval of the accuracy over identities
        (:func:`speech2face.evaluation.intervals.bootstrap_interval`; None for no pairs)}.
    """
    from speech2face.evaluation.intervals import bootstrap_interval

    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if not len(truth):
        return {"accuracy": None, "balanced": None, "n": 0, "interval": None}
    per = [np.mean(predicted[truth == t] == t) for t in sorted(set(truth))]
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "balanced": float(np.mean(per)),
        "n": int(len(truth)),
        "interval": bootstrap_interval(predicted == truth, truth.astype(str)),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two feature sets (the FID formula).

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Args:
        a, b: (N, D) and (M, D) features, N, M >= 2.
    Raises:
        UserError: fewer than two features in a set.
    """
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        raise UserError(f"FID needs two or more features per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s_a @ s_b, disp=False)
    if not np.isfinite(covmean).all():  # singular product: regularise (as pytorch-fid)
        eps = np.eye(len(s_a)) * 1e-6
        covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = np.real(covmean)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


class InceptionFeatures:
    """Inception-v3 pool features (2048-D) for the usual FID, from a user-supplied weights file.

    Args:
        weights: a Keras weights file of InceptionV3 without its top, e.g.
            ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`` (keras-applications
            release v0.5); it is not downloaded.
    Raises:
        UserError: the file is missing or does not fit the architecture.
    """

    def __init__(self, weights: str | os.PathLike):
        import keras

        if not os.path.isfile(weights):
            raise UserError(f"{weights}: Inception-v3 weights file not found")
        try:
            self.model = keras.applications.InceptionV3(
                include_top=False, weights=str(weights), pooling="avg", input_shape=(299, 299, 3)
            )
        except (ValueError, OSError) as exc:
            raise UserError(f"{weights}: not Inception-v3 (no top) weights ({exc})") from None

    def __call__(self, images: np.ndarray, batch: int = 16) -> np.ndarray:
        """(N, S, S, 3) uint8 -> (N, 2048) float32."""
        import keras

        out = []
        for i in range(0, len(images), batch):
            x = predicted_to_crops(images[i : i + batch], 299).astype(np.float32)
            x = keras.applications.inception_v3.preprocess_input(x)
            out.append(np.asarray(self.model(x, training=False)))
        return np.concatenate(out).astype(np.float32)
