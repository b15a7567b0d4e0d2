"""How well the face decoder renders held-out faces from their features.

- landmark error: mean Euclidean distance (pixels of the 224 px aligned crop) between the
  decoder's landmarks and the true 68 landmarks;
- re-identification: the dlib descriptor of each rendered face is compared with the mean
  true feature of every test identity; top-1 rate of its own identity, beside chance 1/N;
- neutrality: the mean mouth opening (:func:`speech2face.faces.canonical.mouth_opening`) of
  the rendered faces (dlib's landmarks found on them) beside that of the input faces and of
  the canonical landmark targets; a decoder of canonical faces renders closed mouths.
"""

from __future__ import annotations

import cv2
import numpy as np

from speech2face.faces import canonical
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


def found_landmarks(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dlib's 68 landmarks of the face found in each crop (HOG detector).

    Args:
        crops: (N, S, S, 3) uint8.
    Returns:
        ((N, 68, 2) float32 pixels, NaN where no face was found; (N,) bool found).
    """
    from speech2face import faces

    points = np.full((len(crops), 68, 2), np.nan, np.float32)
    for i, crop in enumerate(crops):
        face = faces.choose_face(faces.detect_faces(crop), crop.shape)
        if face is not None:
            points[i] = faces.landmarks(crop, face)
    return points, ~np.isnan(points[:, 0, 0])


def decoder_quality(decoder, faces: dict, encoder, crop_size: int = CROP_SIZE) -> dict:
    """Landmark error, re-identification and neutrality of rendered faces.

    Args:
        decoder: face decoder (``build_face_decoder``).
        faces: {"face", "landmarks" (crop pixels), "feature", "identity"} of test faces,
            optionally "target" (N, 68, 2): canonical landmark targets in crop pixels
            (:func:`speech2face.training.decoder.canonical_faces`).
        encoder: a FaceEncoder of the same kind as the features (dlib).
    Returns:
        {"faces", "identities", "landmark_error_px", "reid_top1", "reid_chance",
        "reid_top1_true_faces" (the same protocol on the real crops, a ceiling),
        "mouth_opening_faces" (input faces), "mouth_opening_predicted" (the decoder's
        landmarks), "mouth_opening_rendered" (dlib's landmarks on the rendered faces, mean
        over "rendered_faces_found", the share where dlib finds a face; None when it finds
        none)}; with "target":
        "landmark_error_to_targets_px" and "mouth_opening_targets" too.
    """
    pred = decoder.predict(faces["feature"], verbose=0, batch_size=16)
    lm = pred["landmarks"] * crop_size
    err = float(np.linalg.norm(lm - faces["landmarks"], axis=-1).mean())
    crops = rendered_to_crops(pred["image"], crop_size)
    rendered = encoder.encode(crops, lm)
    top1, n_ids = identity_top1(rendered, faces["identity"], faces["feature"], faces["identity"])
    real = encoder.encode(faces["face"], faces["landmarks"])
    ceiling, _ = identity_top1(real, faces["identity"], faces["feature"], faces["identity"])
    seen, found = found_landmarks(crops)
    out = {
        "faces": int(len(crops)),
        "identities": n_ids,
        "landmark_error_px": err,
        "reid_top1": top1,
        "reid_chance": 1.0 / n_ids,
        "reid_top1_true_faces": ceiling,
        "mouth_opening_faces": float(canonical.mouth_opening(faces["landmarks"]).mean()),
        "mouth_opening_predicted": float(canonical.mouth_opening(lm).mean()),
        "mouth_opening_rendered": (
            float(canonical.mouth_opening(seen[found]).mean()) if found.any() else None
        ),
        "rendered_faces_found": float(found.mean()),
    }
    if "target" in faces:
        target = np.asarray(faces["target"], np.float32)
        out["landmark_error_to_targets_px"] = float(np.linalg.norm(lm - target, axis=-1).mean())
        out["mouth_opening_targets"] = float(canonical.mouth_opening(target).mean())
    return out
