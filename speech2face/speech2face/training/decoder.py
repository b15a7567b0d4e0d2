"""Train the face decoder (Cole et al., CVPR 2017) on faces: `speech2face train-decoder`.

Faces come from a dataset's segments and from face-only sources (photos, silent face
videos), train split only. The decoder renders faces in canonical form, frontal and neutral
(Cole et al.; Speech2Face §3.2), so the targets are canonical: from each face video the most
frontal and neutral frames are kept, faces far from frontal and neutral are dropped (each
identity keeps its best), and every face's landmark target is its identity's neutral
geometry (the faces' landmarks with closed mouths, averaged; :mod:`speech2face.faces.canonical`).
The texture target is the face warped from its own landmarks to the mean landmarks of the
targets (saved with the model), inside the face mask (the feathered hull of the landmarks and
the forehead) on a plain background (the faces and their targets:
:mod:`speech2face.speech2face.training.decoder_faces`). Losses: texture L1 weighted by the
face mask + landmark MSE, plus the identity loss (negative cosine between the face feature
of the rendered face and the input feature) when the face encoder is a differentiable Keras
model (vggface). With
the dlib encoder there is no differentiable path from pixels to the feature, so the identity
term is off.

:func:`train_decoder` reads as its steps: faces (the dataset's segments and the face
caches of `prepare-faces`, built under ``face_cache/`` for a raw source), canonical faces
and landmark targets, mean landmarks, targets, model, fit (a checkpoint per epoch, a
picture grid every ``grid_every``), save, test metrics.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError
from speech2face.speech2face.bundle import MEAN_FILE
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.training import decoder_faces
from speech2face.speech2face.training.config import DecoderConfig

log = logging.getLogger(__name__)

DECODER_FILE = "decoder.keras"
CONFIG_FILE = "decoder.json"
METRICS_FILE = "decoder_metrics.json"
CHECKPOINT_DIR = "checkpoint"
GRID_ROWS = 6
TEST_FACES = 400  # test faces per face cache in decoder_metrics.json (two galleries of 200)


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
            ``face_cache/`` (the faces of raw face sources), ``checkpoint/``,
            ``grids/epoch_NNN.png``, ``history.csv``, ``logs/`` (TensorBoard) and
            ``decoder_metrics.json`` (landmark error, re-identification and mouth opening of
            the test faces, when there are any).
        face_sources: manifest CSVs or ``<identity>/<file>`` folders of face-only media.
        config: options (:class:`~speech2face.speech2face.training.config.DecoderConfig`).
    Returns:
        The trained decoder
        (:func:`speech2face.speech2face.models.face_decoder.build_face_decoder`).
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

    caches = decoder_faces.face_caches(out, face_sources, dataset, config)
    gathered = decoder_faces.gather_faces(dataset, caches, "train", config.max_face_score)
    train = decoder_faces.canonical_faces(gathered, config.max_face_score, config.neutral_landmarks)
    mean = decoder_faces.mean_landmarks(out, train)
    size = _image_size(config.preset)
    targets = decoder_faces.cached_targets(out, train, mean, size)
    print(
        f"decoder: {len(train['identity'])} training faces of {len(set(train['identity']))} "
        f"identities ({len(gathered['identity']) - len(train['identity'])} far from frontal "
        f"and neutral dropped), {size}x{size} ({config.preset} preset), feature "
        f"{dataset.feature_dim}-D {dataset.face_encoder}"
    )
    steps = config.epochs * -(-len(train["identity"]) // config.batch_size)
    decoder, trainer, targets = _build(dataset, encoder, mean, config, targets, train, steps)
    done = restore(trainer, out / CHECKPOINT_DIR)
    if done:
        print(f"resuming after epoch {done}")
    grid = _grid_writer(decoder, train, targets, size, out / "grids", config)
    _fit(trainer, train["feature"], targets, done, config.epochs, config, grid, out)
    if config.detail_epochs:  # then fine detail, on the face the L1 epochs placed
        rate, total = config.detail_learning_rate, config.epochs + config.detail_epochs
        _compile(trainer, mean, config, rate, detail=True, identity=encoder.differentiable)
        if done > config.epochs:  # resuming inside the detail epochs: their Adam's state
            restore(trainer, out / CHECKPOINT_DIR)
        _fit(trainer, train["feature"], targets, max(done, config.epochs), total, config, grid, out)

    decoder.save(out / DECODER_FILE)
    info = {
        "config": asdict(config),
        "face_encoder": dataset.face_encoder,
        "feature_dim": dataset.feature_dim,
        "image_size": size,
        "faces": len(train["identity"]),
        "faces_gathered": len(gathered["identity"]),
        "identity_loss": bool(encoder.differentiable),
        "dataset": str(Path(data).resolve()),
        "files": integrity.records(out, (DECODER_FILE, MEAN_FILE)),  # checked by `train`
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    _test_metrics(decoder, dataset, caches, encoder, out)
    return decoder


def decoder_run_from_bundle(bundle, out) -> Path:
    """Write a decoder run folder holding the face decoder of a bundle (the shipped one by
    default), so that `train` puts a new voice side on a trained decoder (the demo's
    default: the shipped decoder learnt from ~20,000 faces, beyond what a CPU demo trains).

    Returns:
        ``out``, with ``decoder.keras``, ``mean_landmarks.npy`` and ``decoder.json``
        ("from_bundle" names the bundle; its recorded decoder metrics are copied).
    Raises:
        UserError / DamagedFileError: an incomplete or damaged bundle.
    """
    import shutil

    from speech2face.models import load_parts
    from speech2face.speech2face.bundle import DECODER, read_config
    from speech2face.speech2face.bundle import remedy as bundle_remedy

    bundle, out = Path(bundle), Path(out)
    config = read_config(bundle)
    decoder = load_parts(bundle, DECODER, bundle_remedy(bundle))
    out.mkdir(parents=True, exist_ok=True)
    decoder.save(out / DECODER_FILE)
    shutil.copyfile(bundle / MEAN_FILE, out / MEAN_FILE)
    info = {
        "from_bundle": str(bundle.resolve()),
        "face_encoder": config["face_encoder"],
        "feature_dim": config["feature_dim"],
        "image_size": int(decoder.output["image"].shape[1]),
        "decoder_metrics": config.get("decoder_metrics"),
        "files": integrity.records(out, (DECODER_FILE, MEAN_FILE)),
    }
    (out / CONFIG_FILE).write_text(json.dumps(info, indent=1))
    return out


# --- the steps, in order ---------------------------------------------------------------


def _image_size(preset: str) -> int:
    """Side in pixels of the decoder's output for a preset (64 for an unknown one)."""
    from speech2face.speech2face.models.face_decoder import PRESETS

    return PRESETS[preset]["image_size"] if preset in PRESETS else 64


def _build(dataset: Dataset, encoder, mean, config, targets: dict, train: dict, steps: int):
    """The decoder and its compiled trainer (+ the identity head for a differentiable encoder).

    Losses: texture L1 weighted by the face mask, plus ``edge_weight`` x the same L1 on the
    image gradients (sharper edges than the L1 alone, which blurs what it cannot place),
    landmark MSE, and the identity loss when the encoder is differentiable. The learning
    rate is constant or follows a cosine decay over the ``steps`` of the run
    (``config.schedule``).

    Returns:
        (decoder, trainer, targets): ``targets`` gains "identity" (the input features) when
        the identity loss is on.
    """
    import keras

    from speech2face.speech2face.models.face_decoder import build_face_decoder

    keras.utils.set_random_seed(config.seed)
    decoder = build_face_decoder(dataset.feature_dim, mean, config.preset)
    outputs = {
        "texture": decoder.get_layer("texture").output,
        "landmarks": decoder.get_layer("landmarks").output,
    }
    if encoder.differentiable:
        outputs["identity"] = _identity_head(decoder, config.vggface_weights)
        targets = {**targets, "identity": train["feature"]}
    else:
        log.info(
            "identity loss off: the %s face encoder is not differentiable", dataset.face_encoder
        )
    rate = config.learning_rate
    if config.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, max(1, steps), alpha=0.02)
    elif config.schedule != "constant":
        raise UserError(f"unknown schedule {config.schedule!r}: use constant or cosine")
    trainer = keras.Model(decoder.input, outputs)
    _compile(trainer, mean, config, rate, detail=False, identity=encoder.differentiable)
    return decoder, trainer, targets


def _compile(trainer, mean: np.ndarray, config, rate, detail: bool, identity: bool) -> None:
    """Compile ``trainer`` with a fresh Adam at ``rate``; with ``detail``, the texture loss
    gains ``detail_weight`` x :func:`.losses.detail_loss` (the detail epochs, after the L1 ones
    have placed the face: from the first epoch the detail term trades identity for texture,
    on UTKFace test in galleries of 200 re-identification 0.37 against 0.46 after an L1
    phase; issue 20). Compiling again keeps the weights. ``identity``: the trainer has
    the identity head's output."""
    import keras

    from speech2face.speech2face.models.face_decoder import face_mask
    from speech2face.speech2face.training.losses import masked_l1

    size = int(trainer.get_layer("texture").output.shape[1])
    texture = masked_l1(
        face_mask(mean, size),
        edge_weight=config.edge_weight,
        detail_weight=config.detail_weight if detail else 0.0,
    )
    losses = {"texture": texture, "landmarks": "mse"}
    weights = {"texture": 1.0, "landmarks": config.landmark_weight}
    if identity:  # the head of a differentiable face encoder (see _build)
        losses["identity"] = keras.losses.CosineSimilarity()  # = negative cosine
        weights["identity"] = config.identity_weight
    trainer.compile(keras.optimizers.Adam(rate), loss=losses, loss_weights=weights)


def _grid_writer(decoder, faces: dict, targets: dict, size: int, folder: Path, config):
    """A function of the epoch that saves ``folder/epoch_NNN.png`` after the first and the
    last epoch and every ``config.grid_every``: a few training faces, their target texture
    and target face (the texture rendered at the landmark targets), and the decoder's
    texture (with landmarks) and rendered face. (A grid takes about a second on 2 CPU
    cores, longer than an epoch of the small preset.)"""
    from speech2face.speech2face.evaluation.report import face_grid

    n = len(faces["identity"])
    pick = np.linspace(0, n - 1, min(GRID_ROWS, n)).astype(int)
    images = decoder_faces.resize_uint8(faces["face"][pick], size).astype(np.float32) / 255.0
    textures = targets["texture"][pick].astype(np.float32) / 255.0
    target_faces = np.asarray(
        decoder.get_layer("image")([textures, targets["landmarks"][pick].astype(np.float32)])
    )

    def grid(epoch: int) -> None:
        done = epoch + 1
        last = (config.epochs, config.epochs + config.detail_epochs)  # each phase's last
        if done != 1 and done not in last and done % max(1, config.grid_every):
            return
        pred = decoder.predict(faces["feature"][pick], verbose=0)
        face_grid(
            {
                "input face": images,
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


def _fit(trainer, features, targets: dict, done: int, epochs: int, config, grid, out: Path):
    """Run epochs ``done`` to ``epochs``: checkpoint + grid per epoch, CSV and TensorBoard
    logs (the batches of epoch e are the same whichever phase runs it)."""
    import keras

    from speech2face.training.checkpoint import Checkpoint

    if done >= epochs:
        return
    callbacks = [
        keras.callbacks.TerminateOnNaN(),  # stop with a message instead of saving NaNs
        Checkpoint(out / CHECKPOINT_DIR, extra=grid),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs")))
    trainer.fit(
        decoder_faces.face_batches(features, targets, config.batch_size, config.seed),
        epochs=epochs,
        initial_epoch=done,
        callbacks=callbacks,
        verbose="auto",
    )


def _test_metrics(decoder, dataset, caches, encoder, out: Path) -> dict | None:
    """Landmark error, re-identification (among all and in galleries of 200), sharpness and
    neutrality on the test faces (video frames chosen as for training, none dropped), of
    every source together and of each source ("by_source": "dataset" and each cache's
    folder name; a cache gives at most :data:`TEST_FACES`, evenly spaced) ->
    ``decoder_metrics.json``."""
    from speech2face.speech2face.data import face_reader
    from speech2face.speech2face.evaluation.decoder_quality import decoder_quality

    parts = {}
    if dataset.index("test"):
        parts["dataset"] = dataset.load("test", decoder_faces.FACE_FIELDS)
    for cache in caches:
        got = face_reader.read_faces(cache, "test", fields=decoder_faces.FACE_FIELDS)
        if len(got["identity"]) > TEST_FACES:
            pick = np.linspace(0, len(got["identity"]) - 1, TEST_FACES).astype(int)
            got = {k: v[pick] for k, v in got.items()}
        if len(got["identity"]):
            parts[Path(cache).name] = got
    if not parts:
        log.info("no test faces in %s or the face sources: no decoder metrics", dataset.root)
        return None
    crop = next(iter(parts.values()))["face"].shape[1]

    def quality(faces):
        # every test face is kept; the targets say what a canonical rendering would be
        return decoder_quality(
            decoder, decoder_faces.canonical_faces(faces, np.inf, neutral=True), encoder, crop
        )

    together = {
        k: np.concatenate([p[k] for p in parts.values()]) for k in decoder_faces.FACE_FIELDS
    }
    metrics = quality(together)
    metrics["by_source"] = (
        {name: quality(faces) for name, faces in parts.items()} if len(parts) > 1 else {}
    )
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    for name, m in [("all", metrics), *metrics["by_source"].items()]:
        print(_quality_line(name, m, crop))
    return metrics


def _quality_line(name: str, m: dict, crop: int) -> str:
    return (
        f"test faces ({name}): {m['faces']} of {m['identities']} identities; "
        f"landmark error {m['landmark_error_px']:.2f} px ({crop} px crop; "
        f"{m['landmark_error_to_targets_px']:.2f} px to the neutral targets); "
        f"re-identification top-1 {m['reid_top1']:.3f} "
        f"(chance {m['reid_chance']:.3f}, real faces {m['reid_top1_true_faces']:.3f}), "
        f"{m['reid_top1_gallery']:.3f} in galleries of {m['reid_gallery_size']}; "
        f"sharpness ratio {m['sharpness_ratio']:.3f} ({m['sharpness_ratio_crop']:.3f} at "
        f"{crop} px); mouth opening rendered {_number(m['mouth_opening_rendered'])} "
        f"(dlib finds {m['rendered_faces_found']:.0%} of the faces), "
        f"input faces {m['mouth_opening_faces']:.3f}, targets {m['mouth_opening_targets']:.3f}"
    )


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _identity_head(decoder, vgg_weights: str):
    """Output: VGG-Face fc7 of the rendered face (frozen VGG-Face), for the identity loss."""
    import keras

    from speech2face.faces import vggface

    vgg = vggface.feature_model(vggface.load_vggface(vgg_weights))
    vgg.trainable = False
    image = decoder.output["image"]
    side = int(vgg.input.shape[1])
    x = keras.layers.Resizing(side, side, name="to_vgg_size")(image)
    mean = np.asarray(vggface.MEAN_BGR, np.float32)
    x = keras.layers.Lambda(lambda t: keras.ops.flip(t * 255.0, axis=-1) - mean, name="to_bgr")(x)
    fc7, _ = vgg(x)
    return fc7
