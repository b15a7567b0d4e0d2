"""The face decoder's training faces and their targets (Cole et al., CVPR 2017, §3).

Faces come from a dataset's segments and from face caches (`prepare-faces`, or built here
for a raw face source), train split only; :func:`canonical_faces` keeps those near frontal
and neutral and gives each its landmark target (the identity's neutral geometry). The
texture target is the face warped from its own landmarks to the mean landmarks
(:func:`texture_targets`), inside the face mask on the plain background; the targets of a
run are cached in ``targets.h5`` (:func:`cached_targets`). :func:`face_batches` feeds them
to ``keras.Model.fit``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from speech2face.errors import UserError
from speech2face.faces.alignment import CROP_SIZE
from speech2face.speech2face.bundle import MEAN_FILE
from speech2face.speech2face.data.reader import Dataset

log = logging.getLogger(__name__)

FACE_FIELDS = ("face", "landmarks", "feature", "identity")
TARGETS_FILE = "targets.h5"  # the texture and landmark targets of the training faces
WARP_AT_OUTPUT_FROM = 128  # px: outputs this large get texture targets warped at their size
WARP_PIXELS = 400_000  # pixels warped at once by texture_targets (memory ~ pixels x points)


def face_caches(out: Path, face_sources, dataset: Dataset, config) -> list[Path]:
    """The face cache of each face source: the source itself when it is one
    (`speech2face prepare-faces`), else one built (or resumed) under ``out/face_cache/``
    with the dataset's face encoder (:func:`speech2face.speech2face.data.face_cache.prepare_faces`).
    """
    from speech2face.speech2face.data import face_cache, face_reader

    caches = []
    for i, source in enumerate(face_sources):
        if face_reader.is_face_cache(source):
            caches.append(Path(source))
            continue
        folder = out / "face_cache" / f"{i}-{Path(source).stem}"
        face_cache.prepare_faces(
            source,
            folder,
            face_cache.FaceSourceConfig(
                face_encoder=dataset.face_encoder,
                vggface_weights=config.vggface_weights,
                min_age=config.min_age,
                frames_per_video=config.frames_per_video,
                frame_candidates=config.frame_candidates,
                size=int(dataset.manifest.get("face_size", CROP_SIZE)),
                workers=config.workers,
            ),
        )
        caches.append(folder)
    return caches


def mean_landmarks(out: Path, faces: dict) -> np.ndarray:
    """(68, 2) normalised mean of the landmark targets, saved as ``mean_landmarks.npy``."""
    from speech2face.speech2face.models.face_decoder import mean_landmarks_of

    mean = mean_landmarks_of(faces["target"], faces["face"].shape[1])
    np.save(out / MEAN_FILE, mean)
    return mean


def _targets(faces: dict, mean: np.ndarray, size: int) -> dict:
    """The decoder's targets: {"texture": (N, size, size, 3) uint8, the face warped to the
    mean landmarks inside the face mask on the plain background; "landmarks": (N, 68, 2)
    float32, the landmark targets normalised}. uint8 keeps 20,000 faces at 128 px in
    ~1 GB; :class:`FaceBatches` scales them to [0, 1] per batch."""
    from tqdm import tqdm

    from speech2face.speech2face.models.face_decoder import BACKGROUND, face_mask

    crop = faces["face"].shape[1]
    # warped at the crop's resolution below 128 px (the closed mouths of the mean landmarks
    # are ~1 px apart at 224 px, well below a pixel at 64), else at the output size, which
    # costs (size / crop)^2 of the time (0.04 s a face at 128 px, 0.15 s at 224)
    warp_size = crop if size < WARP_AT_OUTPUT_FROM else size
    mask = face_mask(mean, size)[None, :, :, None]
    background = np.asarray(BACKGROUND, np.float32)
    textures = np.empty((len(faces["face"]), size, size, 3), np.uint8)
    chunk = 256
    for i in tqdm(
        range(0, len(textures), chunk),
        desc="texture targets",
        unit_scale=chunk,
        disable=len(textures) < 2 * chunk,
    ):
        part = slice(i, i + chunk)
        images = resize_uint8(faces["face"][part], warp_size)
        scale = warp_size / crop
        warped = texture_targets(images, faces["landmarks"][part] * scale, mean * warp_size)
        warped = resize_uint8(warped, size).astype(np.float32) / 255.0
        blended = warped * mask + background * (1 - mask)
        textures[part] = (blended * 255 + 0.5).astype(np.uint8)
    target = (faces["target"] / crop).astype(np.float32)
    return {"texture": textures, "landmarks": target}


def cached_targets(out: Path, faces: dict, mean: np.ndarray, size: int) -> dict:
    """:func:`_targets`, kept in ``out/targets.h5`` keyed on the mean landmarks, the
    faces' features and landmark targets, and the size: a resumed run (or another run on
    the same faces, given a copy) skips the warps (~8 minutes for 17,000 faces)."""
    import hashlib

    import h5py

    digest = hashlib.sha256()
    for array in (mean, faces["feature"], faces["target"], np.array([size])):
        digest.update(np.ascontiguousarray(array).tobytes())
    key = digest.hexdigest()
    path = out / TARGETS_FILE
    if path.is_file():
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("key") == key:
                    return {k: f[k][:] for k in ("texture", "landmarks")}
        except OSError:
            log.info("%s is unreadable: computing the targets again", path)
    targets = _targets(faces, mean, size)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in targets.items():
            f.create_dataset(k, data=v)
        f.attrs["key"] = key
    os.replace(tmp, path)
    return targets


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """(N, S0, S0, 3) uint8 -> (N, size, size, 3) uint8 (OpenCV area interpolation)."""
    import cv2

    if images.shape[1] == size:
        return images
    return np.stack(
        [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images]
    ).reshape(len(images), size, size, 3)


def face_batches(features: np.ndarray, targets: dict, batch_size: int, seed: int):
    """Seeded shuffled (features, targets) batches for ``keras.Model.fit``.

    A ``keras.utils.PyDataset``: batch ``i`` of epoch ``e`` is the same in every run of the
    same seed (so a resumed run sees the batches an uninterrupted one would), and uint8
    arrays are scaled to [0, 1] float32 per batch (the targets of 20,000 faces stay uint8
    in memory).

    Args:
        features: (N, dim) float32. targets: {name: (N, ...) array}; uint8 arrays are
            divided by 255.
    """
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = self._order(0)

        def _order(self, epoch):
            return np.random.default_rng([seed, epoch]).permutation(len(features))

        def __len__(self):
            return -(-len(features) // batch_size)

        def __getitem__(self, i):
            rows = np.sort(self.order[i * batch_size : (i + 1) * batch_size])
            y = {}
            for name, array in targets.items():
                part = array[rows]
                y[name] = part.astype(np.float32) / 255.0 if part.dtype == np.uint8 else part
            return features[rows], y

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._order(self.epoch)

    return _Batches()


def gather_faces(
    dataset: Dataset,
    caches=(),
    split: str = "train",
    max_face_score: float = np.inf,
    required: bool = True,
) -> dict | None:
    """Faces of one split from the dataset's segments and from face caches.

    Args:
        caches: face-cache folders (:func:`face_caches`, `speech2face prepare-faces`).
        max_face_score: faces of the caches less canonical than this are dropped, except
            the best of an identity with several faces (:func:`_canonical_in_cache`).
        required: when False, a split without faces gives None instead of an error.
    Returns:
        {"face": (N, 224, 224, 3) uint8, "landmarks": (N, 68, 2) crop pixels (x, y),
        "feature": (N, dim) float32, "identity": (N,) str}.
    Raises:
        UserError: a cache of another face encoder or crop size, or (``required``) no face
            of the split was found.
        DamagedFileError: a shard that differs from its record.
    """
    from speech2face.speech2face.data import face_reader

    parts = [dataset.load(split, FACE_FIELDS)] if dataset.index(split) else []
    size = int(dataset.manifest.get("face_size", CROP_SIZE))
    for cache in caches:
        got = face_reader.read_faces(cache, split, fields=FACE_FIELDS + ("score",))
        keep = _canonical_in_cache(got["score"], got["identity"], max_face_score)
        got = {k: got[k][keep] for k in FACE_FIELDS}
        if len(got["identity"]) and (
            got["face"].shape[1] != size or got["feature"].shape[1] != dataset.feature_dim
        ):
            raise UserError(
                f"{cache}: faces of {got['face'].shape[1]} px with {got['feature'].shape[1]}-D "
                f"features, the dataset has {size} px and {dataset.feature_dim}-D; prepare "
                "the faces with the dataset's face encoder"
            )
        parts.append(got)
    parts = [p for p in parts if len(p["identity"])]
    if not parts:
        if not required:
            return None
        raise UserError(f"no {split} faces in {dataset.root} or the face sources")
    return {k: np.concatenate([p[k] for p in parts]) for k in FACE_FIELDS}


def _canonical_in_cache(scores, identities, max_score: float) -> np.ndarray:
    """(N,) bool: faces scoring at most ``max_score``, and the best face of each identity
    that has several. A photo that is its own identity (UTKFace has no identity labels)
    is kept only when canonical enough, where "each identity keeps its best" (the rule of
    :func:`canonical_faces`) would keep every one."""
    from speech2face.faces import canonical

    names, counts = np.unique(np.asarray(identities).astype(str), return_counts=True)
    several = np.isin(np.asarray(identities).astype(str), names[counts > 1])
    best = canonical.most_canonical(scores, identities, -np.inf)  # each identity's best
    return (scores <= max_score) | (best & several)


def canonical_faces(faces: dict, max_score: float, neutral: bool = True) -> dict:
    """Keep the faces near frontal and neutral and give them landmark targets.

    Args:
        faces: {"face", "landmarks" (N, 68, 2) crop pixels, "feature", "identity"}.
        max_score: faces with a higher :func:`speech2face.faces.canonical.canonical_score`
            are dropped, except each identity's best (``np.inf`` keeps every face).
        neutral: landmark targets in the identity's neutral geometry
            (:func:`speech2face.faces.canonical.neutral_geometry`; Cole et al.); False keeps
            each face's own landmarks.
    Returns:
        The kept faces, with "target": (M, 68, 2) float32 landmark targets (crop pixels)
        and "score": (M,) canonical scores.
    """
    from speech2face.faces import canonical

    scores = canonical.canonical_score(faces["landmarks"])
    keep = canonical.most_canonical(scores, faces["identity"], max_score)
    kept = {k: v[keep] for k, v in faces.items()}
    kept["score"] = scores[keep]
    if neutral:
        kept["target"] = canonical.neutral_geometry(
            kept["landmarks"], kept["identity"], kept["score"]
        )
    else:
        kept["target"] = kept["landmarks"].astype(np.float32)
    return kept


def texture_targets(
    images: np.ndarray, landmarks_px: np.ndarray, mean_px: np.ndarray, batch: int | None = None
) -> np.ndarray:
    """Each face warped from its own landmarks to the mean landmarks (Cole et al. §3),
    resampled bilinearly (the shipped decoder's targets; the render resamples bicubically,
    :data:`speech2face.speech2face.models.face_decoder.RENDER_INTERPOLATION`).

    Args:
        images: (N, S, S, 3) float32 in [0, 1] or uint8. landmarks_px: (N, 68, 2) (x, y)
            pixels. mean_px: (68, 2) (x, y) pixels.
        batch: faces per warp; by default :data:`WARP_PIXELS` pixels at once (7 faces at
            224 px), which keeps the spline's (faces, pixels, points) tensors ~100-250 MB.
    Returns:
        (N, S, S, 3) uint8 textures for uint8 images, else float32 in [0, 1].
    """
    from speech2face.speech2face.models.face_decoder import BOUNDARY_POINTS
    from speech2face.speech2face.models.warp import sparse_image_warp

    batch = batch or max(1, WARP_PIXELS // (images.shape[1] * images.shape[2]))
    out = []
    as_uint8 = images.dtype == np.uint8
    for i in range(0, len(images), batch):
        img = images[i : i + batch]
        if as_uint8:
            img = img.astype(np.float32) / 255.0
        src = landmarks_px[i : i + batch][..., ::-1]
        dst = np.broadcast_to(mean_px[:, ::-1], src.shape)
        warped, _ = sparse_image_warp(img, src, np.ascontiguousarray(dst), 2, 0.0, BOUNDARY_POINTS)
        out.append(np.clip(np.asarray(warped), 0, 1))
    out = np.concatenate(out).astype(np.float32)
    return (out * 255 + 0.5).astype(np.uint8) if as_uint8 else out
