"""How well the face decoder renders held-out faces from their features.

- landmark error: mean Euclidean distance (pixels of the 224 px aligned crop) between the
  decoder's landmarks and the true 68 landmarks;
- re-identification: the dlib descriptor of each rendered face is compared with the mean
  true feature of every test identity; top-1 rate of its own identity, beside chance 1/N.
"""

from __future__ import annotations

import cv2
import numpy as np

from speech2face.faces.alignment import CROP_SIZE


def rendered_to_crops(images: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """(N, S, S, 3) float in [0, 1] -> (N, size, size, 3) uint8 crops for a face encoder."""
    images = np.clip(np.asarray(images), 0, 1)
    return np.stack(
        [
            cv2.resize(
                (im * 255 + 0.5).astype(np.uint8), (size, size), interpolation=cv2.INTER_CUBIC
            )
            for im in images
        ]
    )


def identity_top1(
    features: np.ndarray,
    identities: np.ndarray,
    gallery_features: np.ndarray,
    gallery_identities: np.ndarray,
) -> tuple[float, int]:
    """Top-1 rate of nearest identity (L2 to the per-identity mean gallery feature).

    Returns:
        (rate in [0, 1], number of gallery identities).
    """
    names = sorted(set(gallery_identities))
    means = np.stack([gallery_features[gallery_identities == n].mean(0) for n in names])
    d = np.linalg.norm(features[:, None] - means[None], axis=-1)
    picked = np.array(names, dtype=object)[d.argmin(1)]
    return float(np.mean(picked == identities)), len(names)


def decoder_quality(decoder, faces: dict, encoder, crop_size: int = CROP_SIZE) -> dict:
    """Landmark error and re-identification of rendered faces.

    Args:
        decoder: face decoder (``build_face_decoder``).
        faces: {"face", "landmarks" (crop pixels), "feature", "identity"} of test faces.
        encoder: a FaceEncoder of the same kind as the features (dlib).
    Returns:
        {"faces", "identities", "landmark_error_px", "reid_top1", "reid_chance",
        "reid_top1_true_faces"} (the last: the same protocol on the real crops, a ceiling).
    """
    pred = decoder.predict(faces["feature"], verbose=0, batch_size=16)
    lm = pred["landmarks"] * crop_size
    err = float(np.linalg.norm(lm - faces["landmarks"], axis=-1).mean())
    crops = rendered_to_crops(pred["image"], crop_size)
    rendered = encoder.encode(crops, lm)
    top1, n_ids = identity_top1(rendered, faces["identity"], faces["feature"], faces["identity"])
    real = encoder.encode(faces["face"], faces["landmarks"])
    ceiling, _ = identity_top1(real, faces["identity"], faces["feature"], faces["identity"])
    return {
        "faces": int(len(crops)),
        "identities": n_ids,
        "landmark_error_px": err,
        "reid_top1": top1,
        "reid_chance": 1.0 / n_ids,
        "reid_top1_true_faces": ceiling,
    }
