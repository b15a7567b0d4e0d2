"""Train Wav2Pix (Duarte et al., ICASSP 2019): `speech2face wav2pix train`.

One discriminator step, then one generator step, per batch (the authors'
``scripts/trainer.py``), LSGAN losses:

- D: MSE(D(G(s), e), 0) + MSE(D(x, e), 0.9) + MSE(D(x_wrong, e), 0), where e is the speech
  embedding, x the true face and x_wrong a face of another identity (one-sided label
  smoothing 0.9);
- G (speech encoder, generator and speaker classifier together): MSE(D(G(s), e), 1)
  + 100 MSE(batch mean of D's 4x4 features of G(s), the same of x) + 50 L1(G(s), x)
  + 20 cross-entropy of the speaker classifier;
- Adam, lr 4e-4 (D) and 1e-4 (G), betas (0.5, 0.999); batch 64 in the ``paper`` preset.

The step is one function (state, batch) -> (state, logs) built from ``stateless_call``:
pure and compiled with ``jax.jit`` on JAX, where the Adam updates are
``Optimizer.stateless_apply``; compiled with ``tf.function`` on TensorFlow, where the state
lives in the variables and the updates are ``Optimizer.apply`` (TensorFlow's optimizer has
no stateless form). Besides that only the gradient (:func:`value_and_grad`) is
backend-specific. The three
images of the D step go through D as one batch (D has no BatchNorm, so this equals three
calls but for one spectral-norm power iteration instead of three). The generator's forward
pass of the D step runs in training mode, as in the original, so its dropout and the
encoder's BatchNorm statistics advance twice per step.

Exact resume: every array of the state (weights, BatchNorm statistics, spectral-norm
vectors, dropout seed states, the three optimizers) is saved atomically to
``checkpoint/state.h5`` every ``checkpoint_every`` steps, and the batch of global step g is a
pure function of (seed, g) (:class:`speech2face.dataset.pair_reader.PairBatches`), so a
killed run resumed from its last checkpoint ends with the weights of an uninterrupted run.

Run folder: ``checkpoint/``, ``history.csv`` (one row per checkpoint interval),
``logs/`` (TensorBoard, when TensorFlow is importable), ``grids/epoch_NNN.png`` (faces
generated from training and held-out speech beside the true faces, once per epoch, and
``grids/step_NNNNNN.png`` at a last step that ends no epoch), and
at the end the exported models (``<part>.json`` + ``<part>.weights.h5``, spectral norm baked
in) with ``run.json``, which :class:`speech2face.wav2pix.Wav2Pix` loads.

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
from speech2face.errors import UserError
from speech2face.training.config import Wav2PixConfig
from speech2face.wav2pix import RUN_FILE

__all__ = ["GANTrainer", "Wav2PixConfig", "inference_copies", "train_wav2pix", "value_and_grad"]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"
STATE_FILE = "state.h5"
STATE_INFO = "state.json"
HISTORY = "history.csv"
PARTS = ("speech_encoder", "generator", "speaker_classifier", "discriminator")  # export order
GRID_ROWS = 6
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


def value_and_grad(fn):
    """``fn(params, *args) -> (loss, aux)`` -> ``g(params, *args) -> ((loss, aux), grads)``.

    The only backend-specific piece of the step: ``jax.value_and_grad`` on JAX, a
    ``tf.GradientTape`` on TensorFlow.

    Raises:
        UserError: another Keras backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn, has_aux=True)
    if backend == "tensorflow":
        import tensorflow as tf

        def wrapped(params, *args):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, aux = fn(params, *args)
            grads = tape.gradient(loss, params)
            return (loss, aux), [
                tf.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)
            ]

        return wrapped
    raise UserError(f"Wav2Pix trains on the tensorflow and jax backends, not {backend}")


def _mse(x, target):
    from keras import ops

    return ops.mean(ops.square(x - target))


class GANTrainer:
    """The Wav2Pix models, their optimizers and the compiled training step.

    Build the models (and construct this) inside
    :func:`speech2face.training.distribution.distribution_scope` when training on several
    devices.

    Args:
        encoder, generator, discriminator, classifier: from
            :func:`speech2face.models.wav2pix.build_wav2pix`.
        config: the loss weights, learning rates and betas.
    Attributes:
        groups: the variables the state is made of, in seven lists: G-side (encoder,
            generator, classifier) trainable and non-trainable, D trainable and
            non-trainable, and the variables of the three Adam optimizers (generator;
            encoder and classifier; discriminator). With ``lr_encoder`` unset the first two
            share ``lr_g``, which is one Adam over the G side as in the paper.
    """

    def __init__(self, encoder, generator, discriminator, classifier, config: Wav2PixConfig):
        import keras

        self.config = config
        self.encoder, self.generator = encoder, generator
        self.discriminator, self.classifier = discriminator, classifier
        self.stateless = keras.backend.backend() == "jax"
        wave = keras.Input(tuple(encoder.input.shape[1:]), name="waveform")
        emb = encoder(wave)
        self.g_side = keras.Model(
            wave, {"image": generator(emb), "embedding": emb, "logits": classifier(emb)}
        )
        betas = (config.beta_1, config.beta_2)
        lr_e = config.lr_encoder or config.lr_g
        self.g_opt = keras.optimizers.Adam(config.lr_g, *betas)  # the generator
        self.e_opt = keras.optimizers.Adam(lr_e, *betas)  # speech encoder and classifier
        self.d_opt = keras.optimizers.Adam(config.lr_d, *betas)
        mine = {id(v) for v in generator.trainable_variables}
        g_side = self.g_side.trainable_variables
        self._gen_rows = [i for i, v in enumerate(g_side) if id(v) in mine]
        self._enc_rows = [i for i, v in enumerate(g_side) if id(v) not in mine]
        self.g_opt.build([g_side[i] for i in self._gen_rows])
        self.e_opt.build([g_side[i] for i in self._enc_rows])
        self.d_opt.build(discriminator.trainable_variables)
        self.groups = [
            self.g_side.trainable_variables,
            self.g_side.non_trainable_variables,
            discriminator.trainable_variables,
            discriminator.non_trainable_variables,
            self.g_opt.variables,
            self.e_opt.variables,
            self.d_opt.variables,
        ]
        self.state = self._read() if self.stateless else None  # JAX: the state lives here
        self._step = None
        self._strategy = None
        self._scale = 1.0

    def _read(self) -> list[list]:
        return [[v.value for v in group] for group in self.groups]

    def arrays(self) -> list[list[np.ndarray]]:
        """The whole training state as numpy arrays (a copy)."""
        state = self.state if self.stateless else self._read()
        return [[np.array(v) for v in group] for group in state]

    def load_arrays(self, arrays: list[list[np.ndarray]]) -> None:
        """Set the whole training state (the inverse of :meth:`arrays`)."""
        for group, values in zip(self.groups, arrays, strict=True):
            for var, value in zip(group, values, strict=True):
                var.assign(value)
        if self.stateless:
            self.state = self._read()

    def sync(self) -> None:
        """Write the state into the Keras variables (JAX keeps it outside them)."""
        if self.stateless:
            self.load_arrays(self.arrays())

    # the step -----------------------------------------------------------------------------
    def _d_loss(self, d_tv, d_ntv, fake, emb, real, wrong):
        from keras import ops

        images = ops.concatenate([fake, real, wrong], axis=0)
        embs = ops.concatenate([emb, emb, emb], axis=0)
        out, d_ntv = self.discriminator.stateless_call(d_tv, d_ntv, [images, embs], training=True)
        s_fake, s_real, s_wrong = ops.split(out["score"], 3)
        loss = _mse(s_fake, 0.0) + _mse(s_real, self.config.real_label) + _mse(s_wrong, 0.0)
        logs = {
            "d_real": ops.mean(s_real),
            "d_fake": ops.mean(s_fake),
            "d_wrong": ops.mean(s_wrong),
        }
        return loss, (d_ntv, logs)

    def _g_loss(self, g_tv, g_ntv, d_tv, d_ntv, audio, real, label):
        import keras
        from keras import ops

        c = self.config
        out, g_ntv = self.g_side.stateless_call(g_tv, g_ntv, audio, training=True)
        fake, emb, logits = out["image"], out["embedding"], out["logits"]
        dout, d_ntv = self.discriminator.stateless_call(
            d_tv,
            d_ntv,
            [ops.concatenate([fake, real], 0), ops.concatenate([emb, emb], 0)],
            training=True,
        )
        s_fake, _ = ops.split(dout["score"], 2)
        f_fake, f_real = ops.split(dout["features"], 2)
        adversarial = _mse(s_fake, 1.0)
        matching = _mse(ops.mean(f_fake, 0), ops.stop_gradient(ops.mean(f_real, 0)))
        l1 = ops.mean(ops.abs(fake - real))
        ce = ops.mean(keras.losses.sparse_categorical_crossentropy(label, logits, from_logits=True))
        loss = adversarial + c.feature_weight * matching + c.l1_weight * l1 + c.speaker_weight * ce
        accuracy = ops.mean(ops.cast(ops.equal(ops.argmax(logits, -1), label), "float32"))
        logs = {
            "g_adversarial": adversarial,
            "g_feature_matching": matching,
            "g_l1": l1,
            "g_speaker_ce": ce,
            "speaker_accuracy": accuracy,
        }
        return loss, (g_ntv, d_ntv, logs)

    def _update(self, optimizer, opt_values, grads, values, variables):
        """Adam update: stateless on JAX; on TensorFlow applied to the variables (whose
        optimizer sums gradients over replicas, hence the 1/replicas scale)."""
        if self.stateless:
            return optimizer.stateless_apply(opt_values, grads, values)
        optimizer.apply([g * self._scale for g in grads], variables)
        return [v.value for v in variables], opt_values

    def step_fn(self, state, batch):
        """One D step then one G step: (state, batch) -> (new state, logs of scalars)."""
        from keras import ops

        g_tv, g_ntv, d_tv, d_ntv, g_opt, e_opt, d_opt = state
        out, g_ntv = self.g_side.stateless_call(g_tv, g_ntv, batch["audio"], training=True)
        fake, emb = ops.stop_gradient(out["image"]), ops.stop_gradient(out["embedding"])
        (d_loss, (d_ntv, d_logs)), d_grads = value_and_grad(self._d_loss)(
            d_tv, d_ntv, fake, emb, batch["real"], batch["wrong"]
        )
        d_vars = self.discriminator.trainable_variables
        d_tv, d_opt = self._update(self.d_opt, d_opt, d_grads, d_tv, d_vars)
        (g_loss, (g_ntv, d_ntv, g_logs)), g_grads = value_and_grad(self._g_loss)(
            g_tv, g_ntv, d_tv, d_ntv, batch["audio"], batch["real"], batch["label"]
        )
        g_vars, new_tv = self.g_side.trainable_variables, list(g_tv)
        opts = {"gen": g_opt, "enc": e_opt}
        for key, rows, opt in (
            ("gen", self._gen_rows, self.g_opt),
            ("enc", self._enc_rows, self.e_opt),
        ):
            values, opts[key] = self._update(
                opt,
                opts[key],
                [g_grads[i] for i in rows],
                [g_tv[i] for i in rows],
                [g_vars[i] for i in rows],
            )
            for i, v in zip(rows, values, strict=True):
                new_tv[i] = v
        logs = {"d_loss": d_loss, "g_loss": g_loss, **d_logs, **g_logs}
        return [new_tv, g_ntv, d_tv, d_ntv, opts["gen"], opts["enc"], d_opt], logs

    def compile(self) -> None:
        """Compile the step: ``jax.jit`` (pure state) or ``tf.function`` (state in the
        variables; under a MirroredStrategy, one replica step per device)."""
        if self.stateless:
            import jax

            self._step = jax.jit(self.step_fn, donate_argnums=0)
            return
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
        distributed = strategy.num_replicas_in_sync > 1
        self._strategy = strategy if distributed else None
        self._scale = 1.0 / strategy.num_replicas_in_sync

        def replica_step(batch):
            state, logs = self.step_fn(self._read(), batch)
            return state[1], state[3], logs

        def mean(values):
            if not distributed:
                return values
            return [
                strategy.reduce("MEAN", v, axis=None)
                if v.dtype.is_floating
                else strategy.experimental_local_results(v)[0]
                for v in values
            ]

        def step(batch):
            if distributed:
                g_ntv, d_ntv, logs = strategy.run(replica_step, args=(batch,))
                logs = {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}
            else:
                g_ntv, d_ntv, logs = replica_step(batch)
            for group, values in ((self.groups[1], mean(g_ntv)), (self.groups[3], mean(d_ntv))):
                for var, value in zip(group, values, strict=True):
                    var.assign(value)
            return logs

        self._step = tf.function(step)

    def train_step(self, batch: dict) -> dict:
        """Run one step on a numpy batch; returns the logs (backend scalars)."""
        if self._step is None:
            self.compile()
        batch = self._place(batch)
        if self.stateless:
            self.state, logs = self._step(self.state, batch)
            return logs
        return self._step(batch)

    def _place(self, batch):
        import keras

        if self.stateless:
            dist = keras.distribution.distribution()
            if dist is None:
                return batch
            return {
                k: keras.distribution.distribute_tensor(v, dist.get_data_layout(v.shape))
                for k, v in batch.items()
            }
        if self._strategy is None:
            return batch
        n = self._strategy.num_replicas_in_sync
        if len(batch["label"]) % n:
            raise UserError(f"batch size {len(batch['label'])} is not divisible by {n} devices")
        return self._strategy.experimental_distribute_values_from_function(
            lambda ctx: {
                k: np.array_split(v, n)[ctx.replica_id_in_sync_group] for k, v in batch.items()
            }
        )

    # checkpoints --------------------------------------------------------------------------
    def architecture(self) -> str:
        """JSON of the four models' configs and the loss and optimiser options (what a
        checkpoint must match to be resumed; variable names carry global counters)."""
        models = (self.encoder, self.generator, self.discriminator, self.classifier)
        options = {
            k: v
            for k, v in asdict(self.config).items()
            if k not in ("steps", "epochs", "checkpoint_every", "progress", "num_gpu")
        }
        return json.dumps({"models": [m.get_config() for m in models], "options": options})

    def save(self, folder: Path, step: int, logs: dict | None = None) -> None:
        """Write every state array to ``folder/state.h5`` and the step to ``state.json``,
        each atomically (temporary name, then rename)."""
        import h5py

        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ("tmp." + STATE_FILE)
        arrays = list(self.arrays())
        # HDF5 running out of space mid-write can crash the process later: refuse up front
        integrity.ensure_space(folder, [a for group in arrays for a in group], tmp.name)
        with h5py.File(tmp, "w") as f:
            for g, (group, values) in enumerate(zip(self.groups, arrays, strict=True)):
                for i, (var, value) in enumerate(zip(group, values, strict=True)):
                    f.create_dataset(f"{g}/{i:05d}", data=value).attrs["path"] = var.path
            f.attrs["architecture"] = self.architecture()
        os.replace(tmp, folder / STATE_FILE)
        tmp = folder / ("tmp." + STATE_INFO)
        tmp.write_text(json.dumps({"step": step, "logs": logs or {}}))
        os.replace(tmp, folder / STATE_INFO)

    def restore(self, folder: Path) -> int:
        """Load the state saved by :meth:`save`; returns its step (0 when none).

        Raises:
            UserError: the checkpoint belongs to other models (names or shapes differ).
        """
        import h5py

        if not (folder / STATE_FILE).is_file() or not (folder / STATE_INFO).is_file():
            return 0
        arrays = []
        with h5py.File(folder / STATE_FILE, "r") as f:
            if f.attrs.get("architecture") != self.architecture():
                raise UserError(
                    f"{folder / STATE_FILE}: checkpoint of other models or options; "
                    "use a new output folder"
                )
            for g, group in enumerate(self.groups):
                values = []
                for i, var in enumerate(group):
                    key = f"{g}/{i:05d}"
                    if key not in f or f[key].shape != tuple(var.shape):
                        raise UserError(
                            f"{folder / STATE_FILE}: {key} does not fit {var.path} "
                            f"{tuple(var.shape)}; use a new output folder"
                        )
                    values.append(f[key][()])
                arrays.append(values)
        self.load_arrays(arrays)
        return int(json.loads((folder / STATE_INFO).read_text())["step"])


def inference_copies(trainer: GANTrainer) -> dict:
    """Copies of the four models holding the state's weights with spectral norm baked in,
    for inference calls (``training=False``); the trainer's models are untouched. The
    copies are built once per trainer and refreshed at every call.

    Returns:
        {part name: model} for the names in ``PARTS``.
    """
    from speech2face.models.wav2pix import bake_spectral_norm

    trainer.sync()
    models = (trainer.encoder, trainer.generator, trainer.classifier, trainer.discriminator)
    if getattr(trainer, "_copies", None) is None:
        trainer._copies = {
            name: m.__class__.from_config(m.get_config())
            for name, m in zip(PARTS, models, strict=True)
        }
    for name, model in zip(PARTS, models, strict=True):
        copy = trainer._copies[name]
        for dst, src in zip(copy.variables, model.variables, strict=True):
            dst.assign(src.value)
        bake_spectral_norm(copy)
    return trainer._copies


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


def _grid_rows(sets: dict, n: int) -> dict:
    """{split: pair rows}: the first pair of up to ``n`` identities present in every split."""
    ids = {k: d["identity"][d["pair_face"]] for k, d in sets.items()}
    common = sorted(set.intersection(*(set(v) for v in ids.values())))
    names = [common[i] for i in np.linspace(0, len(common) - 1, min(n, len(common))).astype(int)]
    return {
        k: np.array([np.flatnonzero(v == name)[0] for name in names], int) for k, v in ids.items()
    }


def tile_faces(columns: dict[str, np.ndarray], labels, title: str) -> np.ndarray:
    """A quick picture (PIL, no matplotlib): one column of faces per entry, a label per row.

    Args:
        columns: {title: (N, S, S, 3) uint8}. labels: N strings.
    Returns:
        (H, W, 3) uint8.
    """
    from PIL import Image, ImageDraw

    names = list(columns)
    n, s = len(labels), next(iter(columns.values())).shape[1]
    left, top, gap = 150, 32, 4
    canvas = Image.new("RGB", (left + len(names) * (s + gap), top + n * (s + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 2), title, fill="black")
    for j, name in enumerate(names):
        draw.text((left + j * (s + gap), 18), name[: s // 6 + 4], fill="black")
        for i in range(n):
            canvas.paste(
                Image.fromarray(columns[name][i]), (left + j * (s + gap), top + i * (s + gap))
            )
    for i, label in enumerate(labels):
        draw.text((4, top + i * (s + gap) + s // 2 - 6), str(label)[:24], fill="black")
    return np.asarray(canvas)


def generated_beside_real(models: dict, data: dict, rows: np.ndarray, image_size: int):
    """(true faces, faces generated from their pairs' speech, identities) of pair rows."""
    from speech2face.dataset.pair_reader import resize_faces, to_uint8
    from speech2face.dataset.pairs import preprocess

    emb = models["speech_encoder"](preprocess(data["audio"][rows]), training=False)
    fake = to_uint8(models["generator"](emb, training=False))
    real = resize_faces(data["face"][data["pair_face"][rows]], image_size)
    return real, fake, data["identity"][data["pair_face"][rows]]


def grid_name(step: int, steps_per_epoch: int) -> str:
    """The picture grid's file name after ``step``: ``epoch_NNN.png`` at the end of an
    epoch, else ``step_NNNNNN.png`` (the last step of a run that ends mid-epoch), so the
    final grid never overwrites the last epoch's."""
    if step % steps_per_epoch == 0:
        return f"epoch_{step // steps_per_epoch:03d}.png"
    return f"step_{step:06d}.png"


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
    from tqdm import tqdm

    from speech2face.dataset.pair_reader import PairBatches, PairDataset
    from speech2face.models import save_parts
    from speech2face.models.wav2pix import build_wav2pix, preset
    from speech2face.training.distribution import distribution_scope

    config = config or Wav2PixConfig()
    sizes = preset(config.preset)
    batch_size = config.batch_size or sizes["batch_size"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = PairDataset(data)
    identities = dataset.identities("train")
    train = dataset.load("train")
    batches = PairBatches(
        train, identities, batch_size, config.image_size, config.seed, config.balanced
    )
    total = config.steps or max(1, math.ceil(config.epochs * batches.steps_per_epoch))
    held = next((s for s in ("test_seen", "test") if s in dataset.splits()), None)
    test = dataset.load(held) if held else None

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
    grid_sets = {"train": train}
    if test is not None and len(test["pair_face"]):
        grid_sets[held] = test
    grid_rows = _grid_rows(grid_sets, GRID_ROWS)

    def grids(step):
        from PIL import Image

        copies = inference_copies(trainer)
        columns = {}
        for split, rows in grid_rows.items():
            real, fake, ids = generated_beside_real(
                copies, grid_sets[split], rows, config.image_size
            )
            columns[f"{split} real"], columns[f"{split} speech"] = real, fake
        title = f"step {step}: real faces and faces generated from their speech"
        picture = tile_faces(columns, list(ids), title)
        path = out / "grids" / grid_name(step, batches.steps_per_epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(path)
        board.image(step, "faces", picture)

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
            d_loss, g_loss = float(logs["d_loss"]), float(logs["g_loss"])
            bar.set_postfix(d=f"{d_loss:.3f}", g=f"{g_loss:.2f}", refresh=False)
            last = step + 1 == total
            if (step + 1) % config.checkpoint_every == 0 or last:
                means = {k: v / count for k, v in sums.items()}
                rate = count / (time.time() - t0)
                trainer.save(out / CHECKPOINT, step + 1, means)
                epoch = (step + 1) / batches.steps_per_epoch
                writer.writerow(
                    [
                        step + 1,
                        f"{epoch:.3f}",
                        *(f"{means[k]:.6g}" for k in LOG_KEYS),
                        f"{rate:.3f}",
                    ]
                )
                f.flush()
                board.scalars(step + 1, {**means, "steps_per_s": rate})
                sums, count, t0 = {}, 0, time.time()
            if (step + 1) % batches.steps_per_epoch == 0 or last:
                grids(step + 1)
    bar.close()
    copies = inference_copies(trainer)
    for name, model in copies.items():
        save_parts(model, out, name)
    from speech2face.wav2pix import FORMAT

    info = {
        "format": FORMAT,
        "system": "wav2pix",
        "identities": identities,
        "image_size": config.image_size,
        "window": int(models[0].input.shape[1]),
        "sample_rate": dataset.manifest["sample_rate"],
        "pre_emphasis": dataset.manifest["pre_emphasis"],
        "train": {**asdict(config), "batch_size": batches.batch_size},
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
    return out
