"""Train the face decoder (Cole et al., CVPR 2017) on faces: `speech2face train-decoder`.

Faces come from a dataset's segments and from face-only sources (photos, silent face
videos), train split only. Targets per face: its 68 landmarks in the aligned crop and its
texture, i.e. the face warped from its own landmarks to the mean landmarks of the training
split (computed once and saved with the model). Losses: texture L1 + landmark MSE, plus
the identity loss (negative cosine between the face feature of the rendered face and the
input feature) when the face encoder is a differentiable Keras model (vggface). With the
dlib encoder there is no differentiable path from pixels to the feature, so the identity
term is off.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face.bundle import MEAN_FILE
from speech2face.dataset.reader import Dataset
from speech2face.errors import UserError
from speech2face.faces.alignment import CROP_SIZE
from speech2face.training.config import DecoderConfig

log = logging.getLogger(__name__)

DECODER_FILE = "decoder.keras"
CONFIG_FILE = "decoder.json"
METRICS_FILE = "decoder_metrics.json"
FACES_FILE = "faces.h5"
GRID_ROWS = 6


def _save_faces(path: Path, faces: dict) -> None:
    import h5py

    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in faces.items():
            if v.dtype == object:
                f.create_dataset(k, data=[str(x) for x in v], dtype=h5py.string_dtype())
            else:
                f.create_dataset(k, data=v)
    os.replace(tmp, path)


def _load_faces(path: Path) -> dict:
    import h5py

    with h5py.File(path, "r") as f:
        return {
            k: (
                np.array([x.decode() for x in f[k][:]], dtype=object)
                if f[k].dtype.kind == "O"
                else f[k][:]
            )
            for k in f
        }


def gather_faces(
    dataset: Dataset,
    face_sources=(),
    split: str = "train",
    encoder=None,
    frames_per_video: int = DecoderConfig.frames_per_video,
    required: bool = True,
) -> dict | None:
    """Faces of one split from the dataset's segments and from face-only sources.

    Args:
        encoder: the dataset's face encoder (:func:`speech2face.faces.get_encoder`); it
            gives the face sources' features.
        required: when False, a split without faces gives None instead of an error.
    Returns:
        {"face": (N, 224, 224, 3) uint8, "landmarks": (N, 68, 2) crop pixels (x, y),
        "feature": (N, dim) float32, "identity": (N,) str}.
    Raises:
        UserError: a face source is neither a CSV nor a folder, or (``required``) no face
            of the split was found.
    """
    from speech2face.dataset.face_sources import collect_faces

    fields = ("face", "landmarks", "feature", "identity")
    parts = [dataset.load(split, fields)] if dataset.index(split) else []
    for source in face_sources:
        got = collect_faces(
            source,
            encoder,
            split,
            frames_per_video,
            size=int(dataset.manifest.get("face_size", CROP_SIZE)),
        )
        parts.append({k: got[k] for k in fields})
    parts = [p for p in parts if len(p["identity"])]
    if not parts:
        if not required:
            return None
        raise UserError(f"no {split} faces in {dataset.root} or the face sources")
    return {k: np.concatenate([p[k] for p in parts]) for k in fields}


def resize_faces(images: np.ndarray, landmarks: np.ndarray, size: int):
    """(N, S0, S0, 3) uint8 and (N, 68, 2) pixels -> float32 [0, 1] at ``size``, scaled points."""
    import cv2

    scale = size / images.shape[1]
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return out.astype(np.float32) / 255.0, (landmarks * scale).astype(np.float32)


def texture_targets(
    images: np.ndarray, landmarks_px: np.ndarray, mean_px: np.ndarray, batch: int = 32
) -> np.ndarray:
    """Each face warped from its own landmarks to the mean landmarks (Cole et al. §3).

    Args:
        images: (N, S, S, 3) float32. landmarks_px: (N, 68, 2) (x, y) pixels.
        mean_px: (68, 2) (x, y) pixels.
    Returns:
        (N, S, S, 3) float32 textures.
    """
    from speech2face.models.face_decoder import BOUNDARY_POINTS
    from speech2face.models.warp import sparse_image_warp

    out = []
    for i in range(0, len(images), batch):
        img = images[i : i + batch]
        src = landmarks_px[i : i + batch][..., ::-1]
        dst = np.broadcast_to(mean_px[:, ::-1], src.shape)
        warped, _ = sparse_image_warp(img, src, np.ascontiguousarray(dst), 2, 0.0, BOUNDARY_POINTS)
        out.append(np.clip(np.asarray(warped), 0, 1))
    return np.concatenate(out).astype(np.float32)


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


def train_decoder(
    data: str | os.PathLike,
    out: str | os.PathLike,
    face_sources=(),
    config: DecoderConfig | None = None,
):
    """Train (or resume) the face decoder; writes ``decoder.keras`` and pictures into ``out``.

    Returns:
        The trained decoder (:func:`speech2face.models.face_decoder.build_face_decoder`).
    Raises:
        UserError: bad dataset, no faces, or a face-encoder mismatch.
    """
    import keras

    from speech2face import faces as faces_api
    from speech2face.evaluation.report import face_grid
    from speech2face.models.face_decoder import PRESETS, build_face_decoder, mean_landmarks_of
    from speech2face.training.checkpoint import Checkpoint, restore

    config = config or DecoderConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = Dataset(data)
    encoder = faces_api.get_encoder(dataset.face_encoder, config.vggface_weights)
    cache = out / FACES_FILE
    if cache.is_file():
        train = _load_faces(cache)
    else:
        train = gather_faces(dataset, face_sources, "train", encoder, config.frames_per_video)
        _save_faces(cache, train)
    size = PRESETS[config.preset]["image_size"] if config.preset in PRESETS else 64
    crop = train["face"].shape[1]
    mean_path = out / MEAN_FILE
    if not mean_path.is_file():
        np.save(mean_path, mean_landmarks_of(train["landmarks"], crop))
    mean = np.load(mean_path)
    images, points = resize_faces(train["face"], train["landmarks"], size)
    textures = texture_targets(images, points, mean * size)
    targets = {"texture": textures, "landmarks": points / size}
    print(
        f"decoder: {len(images)} training faces of {len(set(train['identity']))} identities, "
        f"{size}x{size} ({config.preset} preset), feature {dataset.feature_dim}-D "
        f"{dataset.face_encoder}"
    )

    keras.utils.set_random_seed(config.seed)
    decoder = build_face_decoder(dataset.feature_dim, mean, config.preset)
    outputs = {
        "texture": decoder.get_layer("texture").output,
        "landmarks": decoder.get_layer("landmarks").output,
    }
    losses = {"texture": "mae", "landmarks": "mse"}
    weights = {"texture": 1.0, "landmarks": config.landmark_weight}
    if encoder.differentiable:
        outputs["identity"] = _identity_head(decoder, config.vggface_weights)
        losses["identity"] = keras.losses.CosineSimilarity()  # = negative cosine
        weights["identity"] = config.identity_weight
        targets["identity"] = train["feature"]
    else:
        log.info(
            "identity loss off: the %s face encoder is not differentiable", dataset.face_encoder
        )
    trainer = keras.Model(decoder.input, outputs)
    trainer.compile(keras.optimizers.Adam(config.learning_rate), loss=losses, loss_weights=weights)
    done = restore(trainer, out / "checkpoint")
    if done:
        print(f"resuming after epoch {done}")

    pick = np.linspace(0, len(images) - 1, min(GRID_ROWS, len(images))).astype(int)

    def grid(epoch):
        pred = decoder.predict(train["feature"][pick], verbose=0)
        face_grid(
            {
                "input face": images[pick],
                "target texture": textures[pick],
                "predicted texture": pred["texture"],
                "rendered face": pred["image"],
            },
            out / "grids" / f"epoch_{epoch + 1:03d}.png",
            landmarks={"predicted texture": pred["landmarks"] * size},
            row_labels=train["identity"][pick],
            title=f"face decoder, epoch {epoch + 1}",
        )

    callbacks = [
        keras.callbacks.TerminateOnNaN(),  # stop with a message instead of saving NaNs
        Checkpoint(out / "checkpoint", extra=grid),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    if done < config.epochs:
        trainer.fit(
            train["feature"],
            targets,
            batch_size=config.batch_size,
            epochs=config.epochs,
            initial_epoch=done,
            callbacks=callbacks,
            verbose="auto",
        )
    decoder.save(out / DECODER_FILE)
    info = {
        "config": asdict(config),
        "face_encoder": dataset.face_encoder,
        "feature_dim": dataset.feature_dim,
        "image_size": size,
        "faces": len(images),
        "identity_loss": bool(encoder.differentiable),
        "dataset": str(Path(data).resolve()),
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    _test_metrics(decoder, dataset, face_sources, encoder, config, out)
    return decoder


def _test_metrics(decoder, dataset, face_sources, encoder, config, out: Path) -> dict | None:
    """Landmark error and re-identification on the test faces -> ``decoder_metrics.json``."""
    from speech2face.evaluation.decoder_quality import decoder_quality

    test = gather_faces(
        dataset, face_sources, "test", encoder, config.frames_per_video, required=False
    )
    if test is None:
        log.info("no test faces in %s or the face sources: no decoder metrics", dataset.root)
        return None
    crop = test["face"].shape[1]
    metrics = decoder_quality(decoder, test, encoder, crop)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    print(
        f"test faces: {metrics['faces']} of {metrics['identities']} identities; "
        f"landmark error {metrics['landmark_error_px']:.2f} px ({crop} px crop); "
        f"re-identification top-1 {metrics['reid_top1']:.3f} "
        f"(chance {metrics['reid_chance']:.3f}, real faces {metrics['reid_top1_true_faces']:.3f})"
    )
    return metrics
