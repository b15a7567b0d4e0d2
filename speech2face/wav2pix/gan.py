"""The Wav2Pix GAN's training step and state (Duarte et al., ICASSP 2019).

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
pure function of (seed, g) (:class:`speech2face.wav2pix.pair_reader.PairBatches`), so a
killed run resumed from its last checkpoint ends with the weights of an uninterrupted run.

Several devices (``num_gpu``): on JAX the batch is sharded over the devices with
``keras.distribution.DataParallel`` (the state replicated). On TensorFlow each device
computes the gradients of its share of the batch under ``tf.distribute.MirroredStrategy``
and the gradients are averaged (BatchNorm statistics and spectral-norm vectors are
averaged across devices too).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError
from speech2face.training.gradients import value_and_grad
from speech2face.wav2pix.config import Wav2PixConfig

STATE_FILE = "state.h5"
STATE_INFO = "state.json"
EXPORT_PARTS = (
    "speech_encoder",
    "generator",
    "speaker_classifier",
    "discriminator",
)  # export order


def _mse(x, target):
    from keras import ops

    return ops.mean(ops.square(x - target))


class GANState(NamedTuple):
    """The GAN's training state, one list per group (of Keras variables in
    ``GANTrainer.groups``, of their values in ``GANTrainer.state``), in this order (a
    checkpoint's group index). A NamedTuple is a JAX pytree and a TensorFlow nest, so the
    compiled step takes and returns it whole."""

    g_trainable: list  # G side (speech encoder, generator, speaker classifier), trained
    g_non_trainable: list  # its BatchNorm statistics, dropout seed states
    d_trainable: list  # discriminator
    d_non_trainable: list  # its spectral-norm vectors
    g_optimizer: list  # Adam of the generator
    e_optimizer: list  # Adam of the speech encoder and speaker classifier
    d_optimizer: list  # Adam of the discriminator


class GANTrainer:
    """The Wav2Pix models, their optimizers and the compiled training step.

    Build the models (and construct this) inside
    :func:`speech2face.training.distribution.distribution_scope` when training on several
    devices.

    Args:
        encoder, generator, discriminator, classifier: from
            :func:`speech2face.wav2pix.model.build_wav2pix`.
        config: the loss weights, learning rates and betas.
    Attributes:
        groups: the variables the state is made of, a :class:`GANState` of variable lists.
            With ``lr_encoder`` unset the generator's and the encoder's Adam share ``lr_g``,
            which is one Adam over the G side as in the paper.
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
        self.groups = GANState(
            g_trainable=self.g_side.trainable_variables,
            g_non_trainable=self.g_side.non_trainable_variables,
            d_trainable=discriminator.trainable_variables,
            d_non_trainable=discriminator.non_trainable_variables,
            g_optimizer=self.g_opt.variables,
            e_optimizer=self.e_opt.variables,
            d_optimizer=self.d_opt.variables,
        )
        self.state = self._read() if self.stateless else None  # JAX: the state lives here
        self._step = None
        self._strategy = None
        self._scale = 1.0

    def _read(self) -> GANState:
        return GANState(*[[v.value for v in group] for group in self.groups])

    def arrays(self) -> GANState:
        """The whole training state as numpy arrays (a copy)."""
        state = self.state if self.stateless else self._read()
        return GANState(*[[np.array(v) for v in group] for group in state])

    def load_arrays(self, arrays: GANState) -> None:
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

    def step_fn(self, state: GANState, batch: dict):
        """One D step then one G step: (state, batch) -> (new state, logs of scalars)."""
        from keras import ops

        g_ntv, d_ntv = state.g_non_trainable, state.d_non_trainable
        out, g_ntv = self.g_side.stateless_call(
            state.g_trainable, g_ntv, batch["audio"], training=True
        )
        fake, emb = ops.stop_gradient(out["image"]), ops.stop_gradient(out["embedding"])
        (d_loss, (d_ntv, d_logs)), d_grads = value_and_grad(self._d_loss)(
            state.d_trainable, d_ntv, fake, emb, batch["real"], batch["wrong"]
        )
        d_vars = self.discriminator.trainable_variables
        d_tv, d_opt = self._update(
            self.d_opt, state.d_optimizer, d_grads, state.d_trainable, d_vars
        )
        g_tv = state.g_trainable
        (g_loss, (g_ntv, d_ntv, g_logs)), g_grads = value_and_grad(self._g_loss)(
            g_tv, g_ntv, d_tv, d_ntv, batch["audio"], batch["real"], batch["label"]
        )
        g_vars, new_tv = self.g_side.trainable_variables, list(g_tv)
        opts = {"gen": state.g_optimizer, "enc": state.e_optimizer}
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
        new = GANState(new_tv, g_ntv, d_tv, d_ntv, opts["gen"], opts["enc"], d_opt)
        return new, logs

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
            return state.g_non_trainable, state.d_non_trainable, logs

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
            groups = self.groups
            for group, values in (
                (groups.g_non_trainable, mean(g_ntv)),
                (groups.d_non_trainable, mean(d_ntv)),
            ):
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
