"""Train the face decoder (Cole et al., CVPR 2017) on faces: `speech2face train-decoder`.

Faces come from a dataset's segments and from face-only sources (photos, silent face
videos), train split only. The decoder renders faces in canonical form, frontal and neutral
(Cole et al.; Speech2Face §3.2), so the targets are canonical: from each face video the most
frontal and neutral frames are kept, faces far from frontal and neutral are dropped (each
identity keeps its best), and every face's landmark target is its identity's neutral
geometry (the faces' landmarks with closed mouths, averaged; :mod:`speech2face.faces.canonical`).
The texture target is the face warped from its own landmarks to the mean landmarks of the
targets (saved with the model), inside the face mask (the feathered hull of the landmarks and
the forehead) on a plain background. Losses: texture L1 weighted by the face mask + landmark
MSE, plus the identity loss (negative cosine between the face feature of the rendered face
and the input feature) when the face encoder is a differentiable Keras model (vggface). With
the dlib encoder there is no differentiable path from pixels to the feature, so the identity
term is off.

:func:`train_decoder` reads as its steps: faces (cached in ``faces.h5``, keyed on their
inputs), canonical faces and landmark targets, mean landmarks, targets, model, fit
(a checkpoint per epoch, a picture grid every ``grid_every``), save, test metrics.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.bundle import MEAN_FILE
from speech2face.dataset.reader import Dataset
from speech2face.dataset.shards import MANIFEST, sha256
from speech2face.errors import UserError
from speech2face.faces.alignment import CROP_SIZE
from speech2face.training.config import DecoderConfig

log = logging.getLogger(__name__)

DECODER_FILE = "decoder.keras"
CONFIG_FILE = "decoder.json"
METRICS_FILE = "decoder_metrics.json"
FACES_FILE = "faces.h5"
CHECKPOINT_DIR = "checkpoint"
GRID_ROWS = 6
FACE_FIELDS = ("face", "landmarks", "feature", "identity")
OUTSIDE_WEIGHT = 0.05  # texture-loss weight outside the face mask (the plain background)
WARP_PIXELS = 400_000  # pixels warped at once by texture_targets (memory ~ pixels x points)


def train_decoder(
    data: str | os.PathLike,
    out: str | os.PathLike,
    face_sources=(),
    config: DecoderConfig | None = None,
):
    """Train (or resume) the face decoder; write it, its pictures and test metrics to ``out``.

    Args:
        data: a dataset folder (`speech2face prepare`); its train-split faces are used.
        out: the run folder: ``decoder.keras``, ``mean_landmarks.npy``, ``decoder.json``,
            ``faces.h5`` (the training faces), ``checkpoint/``, ``grids/epoch_NNN.png``,
            ``history.csv``, ``logs/`` (TensorBoard) and ``decoder_metrics.json`` (landmark
            error, re-identification and mouth opening of the test faces, when there are
            any).
        face_sources: manifest CSVs or ``<identity>/<file>`` folders of face-only media.
        config: options (:class:`~speech2face.training.config.DecoderConfig`).
    Returns:
        The trained decoder (:func:`speech2face.models.face_decoder.build_face_decoder`).
    Raises:
        UserError: not a dataset, no training faces, or a missing VGG-Face weights file.
    """
    from speech2face import faces
    from speech2face.training.checkpoint import restore

    config = config or DecoderConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = Dataset(data)
    encoder = faces.get_encoder(dataset.face_encoder, config.vggface_weights)

    gathered = _training_faces(out, dataset, face_sources, encoder, config)
    train = canonical_faces(gathered, config.max_face_score, config.neutral_landmarks)
    mean = _mean_landmarks(out, train)
    size = _image_size(config.preset)
    images, targets = _targets(train, mean, size)
    print(
        f"decoder: {len(images)} training faces of {len(set(train['identity']))} identities "
        f"({len(gathered['identity']) - len(images)} far from frontal and neutral dropped), "
        f"{size}x{size} ({config.preset} preset), feature {dataset.feature_dim}-D "
        f"{dataset.face_encoder}"
    )
    decoder, trainer, targets = _build(dataset, encoder, mean, config, targets, train["feature"])
    done = restore(trainer, out / CHECKPOINT_DIR)
    if done:
        print(f"resuming after epoch {done}")
    grid = _grid_writer(decoder, train, images, targets, size, out / "grids", config)
    _fit(trainer, train["feature"], targets, done, config, grid, out)

    decoder.save(out / DECODER_FILE)
    info = {
        "config": asdict(config),
        "face_encoder": dataset.face_encoder,
        "feature_dim": dataset.feature_dim,
        "image_size": size,
        "faces": len(images),
        "faces_gathered": len(gathered["identity"]),
        "identity_loss": bool(encoder.differentiable),
        "dataset": str(Path(data).resolve()),
        "files": integrity.records(out, (DECODER_FILE, MEAN_FILE)),  # checked by `train`
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    _test_metrics(decoder, dataset, face_sources, encoder, config, out)
    return decoder


# --- the steps, in order ---------------------------------------------------------------


def _training_faces(out: Path, dataset: Dataset, face_sources, encoder, config) -> dict:
    """The train-split faces, from ``faces.h5`` when it was built from the same inputs.

    The cache is keyed on the dataset manifest's sha256, the face sources (resolved paths),
    ``frames_per_video``, ``frame_candidates`` and the VGG-Face weights file: changing any
    of them rebuilds it.
    """
    cache = out / FACES_FILE
    key = json.dumps(
        {
            "dataset_sha256": sha256(dataset.root / MANIFEST),
            "face_sources": [str(Path(s).resolve()) for s in face_sources],
            "frames_per_video": config.frames_per_video,
            "frame_candidates": config.frame_candidates,
            "vggface_weights": config.vggface_weights,
        },
        sort_keys=True,
    )
    if cache.is_file():
        faces = _load_faces(cache, key)
        if faces is not None:
            return faces
        log.info("%s was built from other inputs: rebuilding it", cache)
    faces = gather_faces(
        dataset,
        face_sources,
        "train",
        encoder,
        config.frames_per_video,
        candidates=config.frame_candidates,
    )
    _save_faces(cache, faces, key)
    return faces


def _mean_landmarks(out: Path, faces: dict) -> np.ndarray:
    """(68, 2) normalised mean of the landmark targets, saved as ``mean_landmarks.npy``."""
    from speech2face.models.face_decoder import mean_landmarks_of

    mean = mean_landmarks_of(faces["target"], faces["face"].shape[1])
    np.save(out / MEAN_FILE, mean)
    return mean


def _image_size(preset: str) -> int:
    """Side in pixels of the decoder's output for a preset (64 for an unknown one)."""
    from speech2face.models.face_decoder import PRESETS

    return PRESETS[preset]["image_size"] if preset in PRESETS else 64


def _targets(faces: dict, mean: np.ndarray, size: int) -> tuple[np.ndarray, dict]:
    """Faces at ``size`` (float32 [0, 1]) and the targets {"texture" (inside the face mask,
    plain background outside), "landmarks" (the landmark targets, normalised)}."""
    from speech2face.models.face_decoder import BACKGROUND, face_mask

    images, _ = resize_faces(faces["face"], faces["landmarks"], size)
    crop = faces["face"].shape[1]
    # warped at the crop's resolution, then resized: the closed mouths of the mean landmarks
    # are ~1 px apart at 224 px, well below a pixel at 64
    textures = texture_targets(faces["face"], faces["landmarks"], mean * crop)
    textures, _ = resize_faces(textures, faces["landmarks"], size)
    mask = face_mask(mean, size)[None, :, :, None]
    textures = textures * mask + np.asarray(BACKGROUND, np.float32) * (1 - mask)
    target = faces["target"] / faces["face"].shape[1]
    return images, {"texture": textures.astype(np.float32), "landmarks": target}


def _build(dataset: Dataset, encoder, mean, config, targets: dict, features: np.ndarray):
    """The decoder and its compiled trainer (+ the identity head for a differentiable encoder).

    Returns:
        (decoder, trainer, targets): ``targets`` gains "identity" (the input features) when
        the identity loss is on.
    """
    import keras

    from speech2face.models.face_decoder import build_face_decoder, face_mask

    keras.utils.set_random_seed(config.seed)
    decoder = build_face_decoder(dataset.feature_dim, mean, config.preset)
    outputs = {
        "texture": decoder.get_layer("texture").output,
        "landmarks": decoder.get_layer("landmarks").output,
    }
    size = int(decoder.get_layer("texture").output.shape[1])
    losses = {"texture": masked_l1(face_mask(mean, size)), "landmarks": "mse"}
    weights = {"texture": 1.0, "landmarks": config.landmark_weight}
    if encoder.differentiable:
        outputs["identity"] = _identity_head(decoder, config.vggface_weights)
        losses["identity"] = keras.losses.CosineSimilarity()  # = negative cosine
        weights["identity"] = config.identity_weight
        targets = {**targets, "identity": features}
    else:
        log.info(
            "identity loss off: the %s face encoder is not differentiable", dataset.face_encoder
        )
    trainer = keras.Model(decoder.input, outputs)
    trainer.compile(keras.optimizers.Adam(config.learning_rate), loss=losses, loss_weights=weights)
    return decoder, trainer, targets


def _grid_writer(decoder, faces: dict, images, targets: dict, size: int, folder: Path, config):
    """A function of the epoch that saves ``folder/epoch_NNN.png`` after the first and the
    last epoch and every ``config.grid_every``: a few training faces, their target texture
    and target face (the texture rendered at the landmark targets), and the decoder's
    texture (with landmarks) and rendered face. (A grid takes about a second on 2 CPU
    cores, longer than an epoch of the small preset.)"""
    from speech2face.evaluation.report import face_grid

    pick = np.linspace(0, len(images) - 1, min(GRID_ROWS, len(images))).astype(int)
    textures = targets["texture"][pick]
    target_faces = np.asarray(
        decoder.get_layer("image")([textures, targets["landmarks"][pick].astype(np.float32)])
    )

    def grid(epoch: int) -> None:
        done = epoch + 1
        if done not in (1, config.epochs) and done % max(1, config.grid_every):
            return
        pred = decoder.predict(faces["feature"][pick], verbose=0)
        face_grid(
            {
                "input face": images[pick],
                "target texture": textures,
                "target face": target_faces,
                "predicted texture": pred["texture"],
                "rendered face": pred["image"],
            },
            folder / f"epoch_{epoch + 1:03d}.png",
            landmarks={"predicted texture": pred["landmarks"] * size},
            row_labels=faces["identity"][pick],
            title=f"face decoder, epoch {epoch + 1}",
        )

    return grid


def _fit(trainer, features, targets: dict, done: int, config, grid, out: Path) -> None:
    """Run the epochs after ``done``: checkpoint + grid per epoch, CSV and TensorBoard logs."""
    import keras

    from speech2face.training.checkpoint import Checkpoint

    if done >= config.epochs:
        return
    callbacks = [
        keras.callbacks.TerminateOnNaN(),  # stop with a message instead of saving NaNs
        Checkpoint(out / CHECKPOINT_DIR, extra=grid),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    trainer.fit(
        features,
        targets,
        batch_size=config.batch_size,
        epochs=config.epochs,
        initial_epoch=done,
        callbacks=callbacks,
        verbose="auto",
    )


def _test_metrics(decoder, dataset, face_sources, encoder, config, out: Path) -> dict | None:
    """Landmark error, re-identification and neutrality on the test faces (video frames
    chosen as for training, none dropped) -> ``decoder_metrics.json``."""
    from speech2face.evaluation.decoder_quality import decoder_quality

    test = gather_faces(
        dataset,
        face_sources,
        "test",
        encoder,
        config.frames_per_video,
        required=False,
        candidates=config.frame_candidates,
    )
    if test is None:
        log.info("no test faces in %s or the face sources: no decoder metrics", dataset.root)
        return None
    # every test face is kept; the targets say what a canonical rendering would be
    test = canonical_faces(test, np.inf, neutral=True)
    crop = test["face"].shape[1]
    metrics = decoder_quality(decoder, test, encoder, crop)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    print(
        f"test faces: {metrics['faces']} of {metrics['identities']} identities; "
        f"landmark error {metrics['landmark_error_px']:.2f} px ({crop} px crop; "
        f"{metrics['landmark_error_to_targets_px']:.2f} px to the neutral targets); "
        f"re-identification top-1 {metrics['reid_top1']:.3f} "
        f"(chance {metrics['reid_chance']:.3f}, real faces {metrics['reid_top1_true_faces']:.3f}); "
        f"mouth opening rendered {_number(metrics['mouth_opening_rendered'])} "
        f"(dlib finds {metrics['rendered_faces_found']:.0%} of the faces), "
        f"input faces {metrics['mouth_opening_faces']:.3f}, "
        f"targets {metrics['mouth_opening_targets']:.3f}"
    )
    return metrics


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# --- faces and targets ----------------------------------------------------------------


def gather_faces(
    dataset: Dataset,
    face_sources=(),
    split: str = "train",
    encoder=None,
    frames_per_video: int = DecoderConfig.frames_per_video,
    required: bool = True,
    candidates: int = 1,
) -> dict | None:
    """Faces of one split from the dataset's segments and from face-only sources.

    Args:
        encoder: the dataset's face encoder (:func:`speech2face.faces.get_encoder`); it
            gives the face sources' features.
        frames_per_video: faces kept from each video of the face sources.
        required: when False, a split without faces gives None instead of an error.
        candidates: frames read per kept face of a video; the most frontal and neutral are
            kept (:func:`speech2face.dataset.face_sources.collect_faces`).
    Returns:
        {"face": (N, 224, 224, 3) uint8, "landmarks": (N, 68, 2) crop pixels (x, y),
        "feature": (N, dim) float32, "identity": (N,) str}.
    Raises:
        UserError: a face source is neither a CSV nor a folder, or (``required``) no face
            of the split was found.
    """
    from speech2face.dataset.face_sources import collect_faces

    parts = [dataset.load(split, FACE_FIELDS)] if dataset.index(split) else []
    for source in face_sources:
        got = collect_faces(
            source,
            encoder,
            split,
            frames_per_video,
            size=int(dataset.manifest.get("face_size", CROP_SIZE)),
            candidates=candidates,
        )
        parts.append({k: got[k] for k in FACE_FIELDS})
    parts = [p for p in parts if len(p["identity"])]
    if not parts:
        if not required:
            return None
        raise UserError(f"no {split} faces in {dataset.root} or the face sources")
    return {k: np.concatenate([p[k] for p in parts]) for k in FACE_FIELDS}


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


def masked_l1(mask: np.ndarray, outside: float = OUTSIDE_WEIGHT):
    """Texture loss: L1 weighted by the face mask (``outside`` added everywhere), per face
    divided by the weights' sum, so its scale is that of a plain L1.

    Args:
        mask: (S, S) float in [0, 1] (:func:`speech2face.models.face_decoder.face_mask`).
    Returns:
        A Keras loss function (y_true, y_pred) of (B, S, S, 3) -> (B,).
    """
    from keras import ops

    weights = (np.asarray(mask, np.float32) + outside)[None, :, :, None]
    total = float(weights.sum() * 3)

    def texture_l1(y_true, y_pred):
        error = ops.abs(y_true - y_pred) * weights
        return ops.sum(error, axis=(1, 2, 3)) / total

    return texture_l1


def resize_faces(images: np.ndarray, landmarks: np.ndarray, size: int):
    """(N, S0, S0, 3) uint8 and (N, 68, 2) pixels -> float32 [0, 1] at ``size``, scaled points."""
    import cv2

    scale = size / images.shape[1]
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return out.astype(np.float32) / 255.0, (landmarks * scale).astype(np.float32)


def texture_targets(
    images: np.ndarray, landmarks_px: np.ndarray, mean_px: np.ndarray, batch: int | None = None
) -> np.ndarray:
    """Each face warped from its own landmarks to the mean landmarks (Cole et al. §3).

    Args:
        images: (N, S, S, 3) float32 in [0, 1] or uint8. landmarks_px: (N, 68, 2) (x, y)
            pixels. mean_px: (68, 2) (x, y) pixels.
        batch: faces per warp; by default :data:`WARP_PIXELS` pixels at once (7 faces at
            224 px), which keeps the spline's (faces, pixels, points) tensors ~100-250 MB.
    Returns:
        (N, S, S, 3) uint8 textures for uint8 images, else float32 in [0, 1].
    """
    from speech2face.models.face_decoder import BOUNDARY_POINTS
    from speech2face.models.warp import sparse_image_warp

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


def _identity_head(decoder, vgg_weights: str):
    """Output: VGG-Face fc7 of the rendered face (frozen VGG-Face), for the identity loss."""
    import keras

    from speech2face.models import vggface

    vgg = vggface.feature_model(vggface.load_vggface(vgg_weights))
    vgg.trainable = False
    image = decoder.output["image"]
    side = int(vgg.input.shape[1])
    x = keras.layers.Resizing(side, side, name="to_vgg_size")(image)
    mean = np.asarray(vggface.MEAN_BGR, np.float32)
    x = keras.layers.Lambda(lambda t: keras.ops.flip(t * 255.0, axis=-1) - mean, name="to_bgr")(x)
    fc7, _ = vgg(x)
    return fc7


def _save_faces(path: Path, faces: dict, key: str) -> None:
    """Write the faces to ``path`` atomically, with ``key`` (what they were built from)."""
    import h5py

    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in faces.items():
            if v.dtype == object:
                f.create_dataset(k, data=[str(x) for x in v], dtype=h5py.string_dtype())
            else:
                f.create_dataset(k, data=v)
        f.attrs["key"] = key
    os.replace(tmp, path)


def _load_faces(path: Path, key: str) -> dict | None:
    """The faces of a ``faces.h5`` built from ``key``; None when it was built from others."""
    import h5py

    with h5py.File(path, "r") as f:
        if f.attrs.get("key") != key:
            return None
        return {
            k: (
                np.array([x.decode() for x in f[k][:]], dtype=object)
                if f[k].dtype.kind == "O"
                else f[k][:]
            )
            for k in f
        }
