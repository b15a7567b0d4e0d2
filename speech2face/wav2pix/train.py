"""Train Wav2Pix (Duarte et al., ICASSP 2019): `speech2face wav2pix train`.

The loop, top to bottom: the pair dataset and its step-addressed batches -> the four
models and their :class:`~speech2face.wav2pix.gan.GANTrainer` (the LSGAN losses, the step
and its state are described there) -> steps with checkpoints, history and grids -> export.

Exact resume: every array of the state (weights, BatchNorm statistics, spectral-norm
vectors, dropout seed states, the three optimizers) is saved atomically to
``checkpoint/state.h5`` every ``checkpoint_every`` steps, and the batch of global step g is a
pure function of (seed, g) (:class:`speech2face.wav2pix.pair_reader.PairBatches`), so a
killed run resumed from its last checkpoint ends with the weights of an uninterrupted run.

Run folder: ``checkpoint/``, ``history.csv`` (one row per checkpoint interval),
``logs/`` (TensorBoard, when TensorFlow is importable), ``grids/epoch_NNN.png`` (faces
generated from training and held-out speech beside the true faces, once per epoch, and
``grids/step_NNNNNN.png`` at a last step that ends no epoch), and
at the end the exported models (``<part>.json`` + ``<part>.weights.h5``, spectral norm baked
in) with ``run.json``, which :class:`speech2face.wav2pix.inference.Wav2Pix` loads.

Several devices (``num_gpu``): on JAX the batch is sharded over the devices with
``keras.distribution.DataParallel`` (the state replicated). On TensorFlow each device
computes the gradients of its share of the batch under ``tf.distribute.MirroredStrategy``
and the gradients are averaged (BatchNorm statistics and spectral-norm vectors are
averaged across devices too).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.wav2pix.config import Wav2PixConfig
from speech2face.wav2pix.gan import EXPORT_PARTS, GANTrainer
from speech2face.wav2pix.inference import RUN_FILE
from speech2face.wav2pix.pictures import (
    GRID_ROWS,
    generated_beside_real,
    grid_name,
    grid_rows,
    tile_faces,
)

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
HISTORY = "history.csv"
LOG_KEYS = (
    "d_loss",
    "g_loss",
    "g_adversarial",
    "g_feature_matching",
    "g_l1",
    "g_speaker_ce",
    "d_real",
    "d_fake",
    "d_wrong",
    "speaker_accuracy",
)


class _Board:
    """TensorBoard scalars and images when TensorFlow is importable (else nothing)."""

    def __init__(self, folder: Path):
        try:
            import tensorflow as tf
        except ImportError:
            log.info("TensorBoard logs off: TensorFlow is not installed")
            self.writer = None
            return
        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(folder))

    def scalars(self, step: int, values: dict) -> None:
        if self.writer is None:
            return
        with self.writer.as_default():
            for k, v in values.items():
                self.tf.summary.scalar(k, v, step=step)
        self.writer.flush()

    def image(self, step: int, name: str, picture: np.ndarray) -> None:
        if self.writer is None:
            return
        with self.writer.as_default():
            self.tf.summary.image(name, picture[None], step=step)
        self.writer.flush()


def _history(path: Path, step: int) -> None:
    """Drop rows after ``step`` (written after the last checkpoint of a killed run)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if int(r[0]) <= step]
    if len(kept) != len(rows):
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(kept)


def inference_copies(trainer: GANTrainer) -> dict:
    """Copies of the four models holding the state's weights with spectral norm baked in,
    for inference calls (``training=False``); the trainer's models are untouched. The
    copies are built once per trainer and refreshed at every call.

    Returns:
        {part name: model} for the names in ``EXPORT_PARTS``.
    """
    from speech2face.wav2pix.layers import bake_spectral_norm

    trainer.sync()
    models = (trainer.encoder, trainer.generator, trainer.classifier, trainer.discriminator)
    if getattr(trainer, "_copies", None) is None:
        trainer._copies = {
            name: m.__class__.from_config(m.get_config())
            for name, m in zip(EXPORT_PARTS, models, strict=True)
        }
    for name, model in zip(EXPORT_PARTS, models, strict=True):
        copy = trainer._copies[name]
        for dst, src in zip(copy.variables, model.variables, strict=True):
            dst.assign(src.value)
        bake_spectral_norm(copy)
    return trainer._copies


class GridWriter:
    """``grids/<name>.png`` after a step: faces generated from the speech of training and
    held-out pairs beside the true faces (:func:`speech2face.wav2pix.pictures.tile_faces`),
    also sent to TensorBoard."""

    def __init__(self, trainer, sets: dict, image_size: int, folder: Path, steps_per_epoch, board):
        self.trainer, self.sets, self.image_size = trainer, sets, image_size
        self.folder, self.steps_per_epoch, self.board = folder, steps_per_epoch, board
        self.rows = grid_rows(sets, GRID_ROWS)

    def __call__(self, step: int) -> None:
        from PIL import Image

        copies = inference_copies(self.trainer)
        columns = {}
        for split, rows in self.rows.items():
            real, fake, ids = generated_beside_real(copies, self.sets[split], rows, self.image_size)
            columns[f"{split} real"], columns[f"{split} speech"] = real, fake
        title = f"step {step}: real faces and faces generated from their speech"
        picture = tile_faces(columns, list(ids), title)
        path = self.folder / grid_name(step, self.steps_per_epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(path)
        self.board.image(step, "faces", picture)


def train_wav2pix(data, out, config: Wav2PixConfig | None = None) -> Path:
    """Train (or resume) Wav2Pix on a pair dataset's training split.

    Args:
        data: a folder from `speech2face wav2pix prepare`. out: the run folder.
    Returns:
        ``out``, holding the exported models and ``run.json``.
    Raises:
        UserError: bad dataset, too few identities, a checkpoint of other models, devices.
    """
    import keras

    from speech2face.training.distribution import distribution_scope
    from speech2face.wav2pix.model import build_wav2pix, preset
    from speech2face.wav2pix.pair_reader import PairBatches, PairDataset

    config = config or Wav2PixConfig()
    batch_size = config.batch_size or preset(config.preset)["batch_size"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = PairDataset(data)
    identities = dataset.identities("train")
    train = dataset.load("train")
    batches = PairBatches(
        train, identities, batch_size, config.image_size, config.seed, config.balanced
    )
    total = config.steps or max(1, math.ceil(config.epochs * batches.steps_per_epoch))

    keras.utils.set_random_seed(config.seed)
    with distribution_scope(config.num_gpu):
        models = build_wav2pix(
            len(identities),
            config.image_size,
            config.preset,
            config.embedding_gain,
            speech_encoder=config.speech_encoder,
        )
        trainer = GANTrainer(*models, config)
    done = trainer.restore(out / CHECKPOINT)
    _history(out / HISTORY, done)
    n_params = {m.name: m.count_params() for m in models}
    print(
        f"wav2pix ({config.preset}, {config.image_size} px): {n_params}; "
        f"{batches.n} training pairs of {len(identities)} identities, batch "
        f"{batches.batch_size}, {total} steps ({batches.steps_per_epoch} a data epoch)"
        + (f"; resuming at step {done}" if done else "")
    )
    board = _Board(out / "logs")
    sets = {"train": train}  # the grids show training and held-out speech
    held = next((s for s in ("test_seen", "test") if s in dataset.splits()), None)
    test = dataset.load(held) if held else None
    if test is not None and len(test["pair_face"]):
        sets[held] = test
    grids = GridWriter(
        trainer, sets, config.image_size, out / "grids", batches.steps_per_epoch, board
    )
    _fit(trainer, batches, done, total, config, out, board, grids)
    _export(
        trainer,
        dataset,
        identities,
        {**asdict(config), "batch_size": batches.batch_size},
        total,
        out,
    )
    return out


def _fit(trainer, batches, done: int, total: int, config, out: Path, board, grids) -> None:
    """Steps ``done`` to ``total``: a checkpoint, a history row and TensorBoard scalars
    every ``checkpoint_every`` steps and at the last, a grid after every epoch and the last
    step. The history row holds the means since the previous checkpoint."""
    from tqdm import tqdm

    sums, count, t0 = {}, 0, time.time()
    bar = tqdm(
        total=total,
        initial=done,
        unit="step",
        desc="wav2pix",
        disable=not config.progress,
        mininterval=1.0,
    )
    new_file = not (out / HISTORY).is_file()
    with open(out / HISTORY, "a", newline="") as f:
        writer = csv.writer(f)
        if new_file:
            writer.writerow(["step", "epoch", *LOG_KEYS, "steps_per_s"])
        for step in range(done, total):
            logs = trainer.train_step(batches(step))
            for k in LOG_KEYS:
                sums[k] = sums.get(k, 0.0) + float(logs[k])  # also waits for the step
            count += 1
            bar.update(1)
            bar.set_postfix(
                d=f"{float(logs['d_loss']):.3f}", g=f"{float(logs['g_loss']):.2f}", refresh=False
            )
            last = step + 1 == total
            if (step + 1) % config.checkpoint_every == 0 or last:
                means = {k: v / count for k, v in sums.items()}
                rate = count / (time.time() - t0)
                trainer.save(out / CHECKPOINT, step + 1, means)
                epoch = (step + 1) / batches.steps_per_epoch
                row = [step + 1, f"{epoch:.3f}", *(f"{means[k]:.6g}" for k in LOG_KEYS)]
                writer.writerow([*row, f"{rate:.3f}"])
                f.flush()
                board.scalars(step + 1, {**means, "steps_per_s": rate})
                sums, count, t0 = {}, 0, time.time()
            if (step + 1) % batches.steps_per_epoch == 0 or last:
                grids(step + 1)
    bar.close()


def _export(trainer, dataset, identities, train: dict, total: int, out: Path) -> None:
    """The inference copies (spectral norm baked in) as ``<part>.json`` + weights, and
    ``run.json`` with their sizes and sha256 (what :class:`~speech2face.wav2pix.inference.Wav2Pix`
    checks), written last and atomically: a run folder without it is unfinished."""
    from speech2face.models import save_parts
    from speech2face.wav2pix.inference import FORMAT

    copies = inference_copies(trainer)
    for name, model in copies.items():
        save_parts(model, out, name)
    info = {
        "format": FORMAT,
        "system": "wav2pix",
        "identities": identities,
        "image_size": train["image_size"],
        "window": int(trainer.encoder.input.shape[1]),
        "sample_rate": dataset.manifest["sample_rate"],
        "pre_emphasis": dataset.manifest["pre_emphasis"],
        "train": train,
        "steps": total,
        "dataset": str(dataset.root.resolve()),
        "protocol": dataset.manifest.get("protocol", ""),
        "files": integrity.records(
            out, [f"{name}{ext}" for name in copies for ext in (".json", ".weights.h5")]
        ),
    }
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / RUN_FILE)
