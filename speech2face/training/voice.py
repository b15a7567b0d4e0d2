"""Train the Speech2Face voice encoder with a frozen face decoder: `speech2face train`.

Adam (β1 0.5, ε 1e-4), learning rate 1e-3 decayed x0.95 every 10,000 steps, batch 8
(Speech2Face §4). Only the voice encoder trains; the decoder's first layer (and VGG-Face
fc8 for vggface features) enter the loss as constants. Keras runs "epochs" of
``checkpoint_every`` steps (the total is rounded up to whole intervals) and the batch of
global step g is fixed by g and the seed, so a killed run resumes exactly: weights,
optimizer state, step and data order.

Several devices (``num_gpu``): :mod:`speech2face.training.distribution`. The bundle format
is :mod:`speech2face.bundle`.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from speech2face.bundle import MEAN_FILE, write_bundle
from speech2face.dataset.reader import Dataset, SegmentBatches
from speech2face.errors import UserError
from speech2face.training.config import TrainConfig
from speech2face.training.decoder import DECODER_FILE
from speech2face.training.distribution import distribution_scope


class StepBatches(keras.utils.PyDataset):
    """Batches addressed by global step: (waveform (B, 96000), true feature (B, dim)).

    Item ``i`` is the batch of global step ``start + i``, a pure function of the step and
    the seed (Keras may read items ahead or twice; with ``fit(shuffle=False)`` it consumes
    them in order), so a resumed run sees exactly the batches of an uninterrupted one.
    """

    def __init__(self, batches: SegmentBatches, start: int, total: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.batches = batches
        self.start = start
        self.total = total

    def __len__(self):
        return self.total - self.start

    def __getitem__(self, i):
        data_epoch, position = divmod(self.start + i, len(self.batches))
        self.batches.epoch = data_epoch
        batch = self.batches[position]
        return batch["audio"], batch["feature"].astype(np.float32)


def _frozen_layers(decoder, dataset: Dataset, config: TrainConfig):
    f_dec = decoder.get_layer("f_dec").get_weights()
    fc8 = None
    if dataset.face_encoder == "vggface":
        from speech2face.models import vggface

        if not config.vggface_weights:
            raise UserError(f"vggface features need VGG-Face fc8: {vggface.weights_help()}")
        fc8 = vggface.load_vggface(config.vggface_weights).get_layer("fc8").get_weights()
    return f_dec, fc8


def train_voice_encoder(data, decoder_dir, out, config: TrainConfig | None = None):
    """Train (or resume) the voice encoder; write the Speech2Face bundle into ``out``.

    Args:
        data: dataset folder. decoder_dir: a `train-decoder` run folder. out: bundle folder.
    Returns:
        The trained voice encoder (Keras model).
    Raises:
        UserError: missing decoder, feature-dimension mismatch, empty split, device errors.
    """
    from speech2face.models import load_model
    from speech2face.models.voice_encoder import build_voice_encoder
    from speech2face.training.checkpoint import Checkpoint, restore
    from speech2face.training.losses import Speech2FaceLoss

    config = config or TrainConfig()
    out, decoder_dir = Path(out), Path(decoder_dir)
    dataset = Dataset(data)
    if not (decoder_dir / DECODER_FILE).is_file():
        raise UserError(f"{decoder_dir}: no {DECODER_FILE}; run `speech2face train-decoder` first")
    decoder = load_model(decoder_dir / DECODER_FILE)
    if decoder.input.shape[-1] != dataset.feature_dim:
        raise UserError(
            f"decoder takes {decoder.input.shape[-1]}-D features, the dataset has "
            f"{dataset.feature_dim}-D {dataset.face_encoder} features"
        )
    f_dec, fc8 = _frozen_layers(decoder, dataset, config)
    batches = SegmentBatches(dataset, "train", config.batch_size, seed=config.seed)
    steps = config.steps or max(1, math.ceil(config.epochs * len(batches)))
    per_epoch = min(config.checkpoint_every, steps)
    n_epochs = math.ceil(steps / per_epoch)
    steps = n_epochs * per_epoch  # whole checkpoint intervals

    keras.utils.set_random_seed(config.seed)
    with distribution_scope(config.num_gpu):
        model = build_voice_encoder(dataset.feature_dim, config.preset)
        schedule = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.decay_steps, config.decay_rate, staircase=True
        )
        loss = Speech2FaceLoss(f_dec, fc8, config.lambda1, config.lambda2, config.temperature)
        model.compile(
            keras.optimizers.Adam(schedule, beta_1=config.beta_1, epsilon=config.epsilon),
            loss=loss,
            metrics=loss.metrics(),
        )
    done = restore(model, out / "checkpoint")
    print(
        f"voice encoder ({config.preset}): {model.count_params():,} parameters; "
        f"{len(batches.rows)} training segments, batch {batches.batch_size}, {steps} steps"
        + (f"; resuming at step {done * per_epoch}" if done else "")
    )
    callbacks = [
        keras.callbacks.TerminateOnNaN(),  # stop with a message instead of saving NaNs
        Checkpoint(out / "checkpoint"),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(out / "logs"), update_freq="epoch"))
    if done < n_epochs:
        model.fit(
            StepBatches(batches, done * per_epoch, steps),
            epochs=n_epochs,
            steps_per_epoch=per_epoch,
            initial_epoch=done,
            shuffle=False,
            callbacks=callbacks,
            verbose="auto",
        )
    write_bundle(
        out,
        model,
        decoder,
        decoder_dir / MEAN_FILE,
        face_encoder=dataset.face_encoder,
        feature_dim=dataset.feature_dim,
        train=asdict(config),
        steps=steps,
        dataset=dataset.root,
        decoder_run=decoder_dir,
    )
    return model
