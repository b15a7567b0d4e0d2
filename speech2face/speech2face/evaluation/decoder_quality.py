"""How well the face decoder renders held-out faces from their features.

- landmark error: mean Euclidean distance (pixels of the 224 px aligned crop) between the
  decoder's landmarks and the true 68 landmarks;
- re-identification: the dlib descriptor of each rendered face is compared with the mean
  true feature of every test identity; top-1 rate of its own identity, beside chance 1/N;
- re-identification among 200: the same in disjoint galleries of :data:`REID_GALLERY`
  identities (averaged; chance 1/200), the protocol of the issue "the face side at scale";
- sharpness: the variance of the Laplacian (grey levels) inside the face (the hull of its
  landmarks) of the rendered face over that of the real aligned crop, per face, median
  (1 = as detailed as the photo; an L1-trained decoder blurs): at the render's size (the
  real crop resized to it, the fair comparison) and at the crop's (the render upsampled,
  which no 128 px render can match: upsampling adds no detail);
- neutrality: the mean mouth opening (:func:`speech2face.faces.canonical.mouth_opening`) of
  the rendered faces (dlib's landmarks found on them) beside that of the input faces and of
  the canonical landmark targets; a decoder of canonical faces renders closed mouths.
"""

from __future__ import annotations

import cv2
import numpy as np

from speech2face.faces import canonical
from speech2face.faces.alignment import CROP_SIZE
from speech2face.faces.predicted import predicted_to_crops

REID_GALLERY = 200  # identities per re-identification gallery


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
    names, group = np.unique(np.asarray(gallery_identities).astype(str), return_inverse=True)
    means = np.zeros((len(names), gallery_features.shape[1]))
    np.add.at(means, group, gallery_features)
    means /= np.bincount(group)[:, None]
    x = np.asarray(features, np.float64)
    # squared L2 as |x|^2 - 2 x.m + |m|^2: no (probes, identities, dim) array
    d = (x**2).sum(1)[:, None] - 2 * x @ means.T + (means**2).sum(1)[None]
    picked = names[d.argmin(1)]
    return float(np.mean(picked == np.asarray(identities).astype(str))), len(names)


def gallery_top1(
    features: np.ndarray,
    identities: np.ndarray,
    gallery_features: np.ndarray,
    gallery_identities: np.ndarray,
    gallery_size: int = REID_GALLERY,
) -> tuple[float, int]:
    """:func:`identity_top1` in disjoint galleries of ``gallery_size`` identities (sorted
    names, cut in order; a last smaller gallery joins the one before), averaged over the
    probes. With fewer identities, one gallery of all.

    Returns:
        (rate in [0, 1], identities per gallery (the smallest)).
    """
    names = sorted(set(gallery_identities))
    count = max(1, len(names) // gallery_size)
    chunks = np.array_split(np.array(names, dtype=object), count)
    hits, n = [], len(names)
    for chunk in chunks:
        probes = np.isin(identities, chunk)
        in_gallery = np.isin(gallery_identities, chunk)
        if probes.any():
            rate, _ = identity_top1(
                features[probes],
                identities[probes],
                gallery_features[in_gallery],
                gallery_identities[in_gallery],
            )
            hits.append((rate, int(probes.sum())))
        n = min(n, len(chunk))
    total = sum(k for _, k in hits)
    return float(sum(r * k for r, k in hits) / total), n


def laplacian_variance(crops: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N,) variance of the Laplacian of the grey levels inside the hull of each face's
    landmarks (eroded by 3 % of the side, away from the hull's edge).

    Args:
        crops: (N, S, S, 3) uint8. landmarks: (N, 68, 2) (x, y) pixels of the crops.
    """
    out = np.zeros(len(crops))
    side = crops.shape[1]
    kernel = np.ones((max(3, side // 32),) * 2, np.uint8)
    for i, (crop, points) in enumerate(zip(crops, landmarks, strict=True)):
        grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
        lap = cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F)
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        mask = cv2.erode(mask, kernel).astype(bool)
        out[i] = lap[mask].var() if mask.sum() > 10 else np.nan
    return out


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
            (:func:`speech2face.speech2face.training.decoder_faces.canonical_faces`).
        encoder: a FaceEncoder of the same kind as the features (dlib).
    Returns:
        {"faces", "identities", "landmark_error_px", "reid_top1", "reid_chance",
        "reid_top1_true_faces" (the same protocol on the real crops, a ceiling),
        "reid_top1_gallery", "reid_gallery_size", "reid_gallery_chance" (galleries of
        :data:`REID_GALLERY` identities), "sharpness_ratio" (median Laplacian variance
        ratio inside the face, the render / the real crop resized to the render's size),
        "sharpness_ratio_crop" (the same with the render upsampled to the crop's size),
        "mouth_opening_faces" (input faces), "mouth_opening_predicted" (the decoder's
        landmarks), "mouth_opening_rendered" (dlib's landmarks on the rendered faces, mean
        over "rendered_faces_found", the share where dlib finds a face; None when it finds
        none)}; with "target":
        "landmark_error_to_targets_px" and "mouth_opening_targets" too.
    """
    pred = decoder.predict(faces["feature"], verbose=0, batch_size=16)
    lm = pred["landmarks"] * crop_size
    err = float(np.linalg.norm(lm - faces["landmarks"], axis=-1).mean())
    crops = predicted_to_crops(pred["image"], crop_size)
    rendered = encoder.encode(crops, lm)
    top1, n_ids = identity_top1(rendered, faces["identity"], faces["feature"], faces["identity"])
    real = encoder.encode(faces["face"], faces["landmarks"])
    ceiling, _ = identity_top1(real, faces["identity"], faces["feature"], faces["identity"])
    seen, found = found_landmarks(crops)
    gallery, per_gallery = gallery_top1(
        rendered, faces["identity"], faces["feature"], faces["identity"]
    )
    real_var = laplacian_variance(faces["face"], faces["landmarks"])
    ratio_crop = laplacian_variance(crops, lm) / real_var
    side = pred["image"].shape[1]  # and at the decoder's own size, the real crop resized
    native = (np.clip(pred["image"], 0, 1) * 255 + 0.5).astype(np.uint8)
    small = np.stack(
        [cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in faces["face"]]
    )
    scale = side / faces["face"].shape[1]
    ratio = laplacian_variance(native, lm * scale) / laplacian_variance(
        small, faces["landmarks"] * scale
    )
    out = {
        "faces": int(len(crops)),
        "identities": n_ids,
        "landmark_error_px": err,
        "reid_top1": top1,
        "reid_chance": 1.0 / n_ids,
        "reid_top1_true_faces": ceiling,
        "reid_top1_gallery": gallery,
        "reid_gallery_size": per_gallery,
        "reid_gallery_chance": 1.0 / per_gallery,
        "sharpness_ratio": float(np.nanmedian(ratio)),
        "sharpness_ratio_crop": float(np.nanmedian(ratio_crop)),
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
