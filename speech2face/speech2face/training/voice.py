"""Train the Speech2Face voice encoder with a frozen face decoder: `speech2face train`.

Adam (β1 0.5, ε 1e-4), learning rate 1e-3 decayed x0.95 every 10,000 steps, batch 8
(Speech2Face §4). Only the voice encoder trains; the decoder's first layer (and VGG-Face
fc8 for vggface features) enter the loss as constants. Keras runs "epochs" of
``checkpoint_every`` steps (the total is rounded up to whole intervals) and the batch of
global step g is fixed by g and the seed, so a killed run resumes exactly: weights,
optimizer state, step and data order.

The loop, top to bottom: dataset and decoder -> recipe (loss and target scale, see
:mod:`speech2face.speech2face.training.config`) -> model (optionally started from a `pretrain` run)
->
fit with a checkpoint and a fit figure every interval -> precise BatchNorm statistics ->
bundle.

Several devices (``num_gpu``): :mod:`speech2face.training.distribution`. The bundle format
is :mod:`speech2face.speech2face.bundle`.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from speech2face.dataset.shards import decode_audio
from speech2face.errors import UserError
from speech2face.speech2face.bundle import MEAN_FILE, write_bundle
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.training.batchnorm import precise_batchnorm
from speech2face.speech2face.training.config import TrainConfig
from speech2face.speech2face.training.decoder import DECODER_FILE
from speech2face.training.distribution import distribution_scope, initialize_hosts


class StepBatches(keras.utils.PyDataset):
    """Batches addressed by global step: (waveform (B, 96000), true feature (B, dim)).

    Item ``i`` is the batch of global step ``start + i``, a pure function of the step and
    the seed (Keras may read items ahead or twice; with ``fit(shuffle=False)`` it consumes
    them in order), so a resumed run sees exactly the batches of an uninterrupted one.
    Items asked for in order come from :meth:`SegmentBatches.stream` (``readers`` threads
    reading ahead); any other item is read on the spot.
    """

    def __init__(
        self,
        batches: SegmentBatches,
        start: int,
        total: int,
        readers: int = 2,
        weights: dict | None = None,
    ):
        super().__init__(workers=1, use_multiprocessing=False)
        self.batches = batches
        self.weights = weights  # identity -> loss weight (``balance``); batches then hold
        # "identity" and items are (waveform, feature, sample weight)
        self.start = start
        self.total = total
        self.error = None  # a UserError met reading a batch (a damaged shard), for fit
        self.readers = readers
        self._stream, self._next = None, None

    def __len__(self):
        return self.total - self.start

    def __getitem__(self, i):
        if self._stream is None or i != self._next:
            self._stream = self.batches.stream(self.start + i, self.total, workers=self.readers)
        self._next = i + 1
        try:
            batch = next(self._stream)
        except UserError as exc:  # TensorFlow wraps it in its own error; fit re-raises it
            self.error, self._stream = exc, None
            raise
        if self.weights is None:
            return batch["audio"], batch["feature"].astype(np.float32)
        w = np.array([self.weights[str(i)] for i in batch["identity"]], np.float32)
        return batch["audio"], batch["feature"].astype(np.float32), w


def balance_weights(dataset: Dataset, balance: str) -> dict | None:
    """identity -> loss weight that makes identities and/or genders of the train split count
    equally (:func:`speech2face.speech2face.training.speaker_head.sample_weights`); None for
    "none"."""
    from speech2face.speech2face.training.speaker_head import sample_weights

    if balance == "none":
        return None
    train = dataset.load("train", ("identity", "gender"))
    try:
        w = sample_weights(train["identity"], train["gender"], balance)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return {str(i): float(v) for i, v in zip(train["identity"], w, strict=True)}


def _frozen_layers(decoder, dataset: Dataset, config: TrainConfig):
    f_dec = decoder.get_layer("f_dec").get_weights()
    fc8 = None
    if dataset.face_encoder == "vggface":
        from speech2face.faces import vggface

        if not config.vggface_weights:
            raise UserError(f"vggface features need VGG-Face fc8: {vggface.weights_help()}")
        fc8 = vggface.load_vggface(config.vggface_weights).get_layer("fc8").get_weights()
    return f_dec, fc8


def target_statistics(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of the train split's face features.

    Returns:
        (mean (dim,), std (dim,)) float32; std is floored at 1e-3 of its mean so that a
        constant dimension cannot divide by zero.
    """
    features = dataset.load("train", ("feature",))["feature"].astype(np.float64)
    std = features.std(0)
    return features.mean(0).astype(np.float32), np.maximum(std, 1e-3 * std.mean()).astype(
        np.float32
    )


def typical_radius(dataset: Dataset, mean: np.ndarray, std: np.ndarray) -> float:
    """Root mean square length of the train split's features in standard units (about
    sqrt(dim)): how far real faces lie from the mean face (FeatureScale's ``radius``)."""
    z = (dataset.load("train", ("feature",))["feature"] - mean) / std
    return float(np.sqrt(np.mean(np.sum(np.square(z), axis=1))))


def _load_decoder(decoder_dir: Path, dataset: Dataset):
    from speech2face import integrity
    from speech2face.models import load_model
    from speech2face.speech2face.training.decoder import CONFIG_FILE

    if not (decoder_dir / DECODER_FILE).is_file():
        raise UserError(f"{decoder_dir}: no {DECODER_FILE}; run `speech2face train-decoder` first")
    fix = f"re-run `speech2face train-decoder` with `-o {decoder_dir}` to rewrite it"
    integrity.check_recorded(decoder_dir, CONFIG_FILE, fix, "decoder run file")
    decoder = load_model(decoder_dir / DECODER_FILE, remedy=fix)
    if decoder.input.shape[-1] != dataset.feature_dim:
        raise UserError(
            f"decoder takes {decoder.input.shape[-1]}-D features, the dataset has "
            f"{dataset.feature_dim}-D {dataset.face_encoder} features"
        )
    return decoder


def _loss(recipe: str, decoder, dataset: Dataset, config: TrainConfig, scale):
    from speech2face.speech2face.training.losses import Speech2FaceLoss, StandardizedLoss

    if recipe == "dlib":
        return StandardizedLoss(*scale, cosine_weight=config.cosine_weight)
    f_dec, fc8 = _frozen_layers(decoder, dataset, config)
    return Speech2FaceLoss(f_dec, fc8, config.lambda1, config.lambda2, config.temperature)


class FitMonitor(keras.callbacks.Callback):
    """The fit figure: how well the model retrieves a fixed subset of its training segments.

    At every epoch end (= checkpoint interval) the BatchNorm statistics are re-estimated on
    the subset (:func:`precise_batchnorm`; the weights do not change), the subset runs through
    the model in inference mode, and recall@1 (cosine; segment and identity galleries) and the
    spread of the predictions (degrees to their centroid) go into the epoch's logs, so the
    CSV and TensorBoard logs and the checkpoint carry them beside the loss. A loss that falls
    while recall@1 stays at chance is the mean face.
    """

    def __init__(self, waves: np.ndarray, features: np.ndarray, identities: np.ndarray):
        super().__init__()
        self.waves, self.features, self.identities = waves, features, identities

    def on_epoch_end(self, epoch, logs=None):
        from speech2face.speech2face.evaluation import retrieval

        batches = [self.waves[i : i + 16] for i in range(0, len(self.waves), 16)]
        precise_batchnorm(self.model, batches)
        pred = np.concatenate([np.asarray(self.model.predict_on_batch(b)) for b in batches])
        r = retrieval.retrieval(pred, self.features, self.identities, ks=(1,))
        figures = {
            "fit_recall1": r["segment"]["recall"]["cosine"]["1"],
            "fit_identity_recall1": r["identity"]["recall"]["cosine"]["1"],
            "fit_spread_deg": retrieval.spread(pred)["mean"],
        }
        if logs is not None:
            logs.update(figures)
        print(
            f"fit on {len(pred)} training segments: recall@1 {figures['fit_recall1']:.3f} "
            f"(chance {r['segment']['chance']['1']:.3f}), identity recall@1 "
            f"{figures['fit_identity_recall1']:.3f} (chance {r['identity']['chance']['1']:.3f}), "
            f"spread {figures['fit_spread_deg']:.1f} deg"
        )


def _fit_subset(dataset: Dataset, count: int, seed: int):
    """A fixed, seeded subset of the train split for :class:`FitMonitor`."""
    rows = dataset.index("train")
    pick = np.random.default_rng(seed).permutation(len(rows))[:count]
    data = dataset.read([rows[i] for i in sorted(pick)], ("audio", "feature", "identity"))
    return decode_audio(data["audio"]), data["feature"].astype(np.float32), data["identity"]


def _precise_statistics(model, batches: SegmentBatches, max_batches: int = 50) -> int:
    """Precise BatchNorm over (at most ``max_batches``) unaugmented training batches."""
    waves = (batches[i]["audio"] for i in range(min(len(batches), max_batches)))
    return precise_batchnorm(model, waves)


def train_voice_encoder(data, decoder_dir, out, config: TrainConfig | None = None):
    """Train (or resume) the voice encoder; write the Speech2Face bundle into ``out``.

    Args:
        data: dataset folder (or an open :class:`Dataset`, e.g. a cross-validation fold's).
        decoder_dir: a `train-decoder` run folder. out: bundle folder.
        config: options; ``config.recipe`` picks the loss and target scale. With
            ``config.hosts`` (JAX), every host runs this with the same arguments after
            ``KERAS_DISTRIBUTION_*`` are set (:func:`initialize_hosts`): each reads its share
            of the global batch ``config.batch_size``, host 0 writes ``out`` (which every
            host must see, for resuming), and the fit figure and precise BatchNorm, which
            would need predictions across hosts, are left out.
    Returns:
        The trained voice encoder (Keras model): (B, N) waveforms -> (B, dim) face features.
    Raises:
        UserError: missing decoder, feature-dimension mismatch, empty split, device errors,
            a `pretrain` run of another preset.
    """
    from speech2face.training.checkpoint import restore

    config = config or TrainConfig()
    out, decoder_dir = Path(out), Path(decoder_dir)
    host, n_hosts = initialize_hosts() if config.hosts else (0, 1)
    if config.batch_size % n_hosts:
        raise UserError(f"batch size {config.batch_size} does not split between {n_hosts} hosts")
    dataset = data if isinstance(data, Dataset) else Dataset(data)
    decoder = _load_decoder(decoder_dir, dataset)
    recipe = _recipe(config, dataset)
    scale = target_statistics(dataset) if recipe == "dlib" else None
    weights = balance_weights(dataset, config.resolved_balance())
    batches = SegmentBatches(
        dataset,
        "train",
        config.batch_size // n_hosts,
        fields=("audio", "feature") + (("identity",) if weights else ()),
        seed=config.seed,
        augment=config.augment,
        process_index=host,
        process_count=n_hosts,
    )
    steps, per_epoch, n_epochs = _schedule(config, len(batches))

    keras.utils.set_random_seed(config.seed)
    model = _compiled_encoder(dataset, decoder, recipe, scale, config)
    epochs_done = restore(model, out / "checkpoint")  # checkpoints of per_epoch steps each
    print(
        f"voice encoder ({config.preset}, recipe {recipe}"
        + (f", from {config.init}" if config.init else "")
        + f"): {model.count_params():,} parameters; {len(batches.rows)} training segments, "
        f"batch {batches.batch_size * n_hosts}, {steps} steps"
        + (f"; host {host} of {n_hosts}, {batches.batch_size} a step" if n_hosts > 1 else "")
        + (f"; resuming at step {epochs_done * per_epoch}" if epochs_done else "")
    )
    # Saving weights takes every host (JAX arrays span them) but one writer: the others
    # write into a scratch folder of their own, removed at the end.
    run_dir = out if host == 0 else Path(tempfile.mkdtemp(prefix=f"speech2face-host{host}-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if epochs_done < n_epochs:
        feed = StepBatches(batches, epochs_done * per_epoch, steps, config.readers, weights)
        callbacks = _callbacks(dataset, config, run_dir, out / "logs", n_hosts)
        _fit(model, feed, callbacks, epochs_done, n_epochs, per_epoch)
    _after_training(model, dataset, config, recipe, scale, n_hosts)
    write_bundle(
        run_dir,
        model,
        decoder,
        decoder_dir / MEAN_FILE,
        face_encoder=dataset.face_encoder,
        feature_dim=dataset.feature_dim,
        train={**asdict(config), "recipe": recipe, "balance": config.resolved_balance()},
        steps=steps,
        dataset=dataset.root,
        decoder_run=decoder_dir,
    )
    if run_dir != out:
        shutil.rmtree(run_dir, ignore_errors=True)
    return model


def _recipe(config: TrainConfig, dataset: Dataset) -> str:
    """``config.recipe`` resolved for the dataset's face encoder ("paper" or "dlib").

    Raises:
        UserError: a recipe that does not fit the dataset's face features.
    """
    try:
        return config.resolved_recipe(dataset.face_encoder)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _fit(model, feed, callbacks, epochs_done: int, n_epochs: int, per_epoch: int) -> None:
    """``model.fit`` over the Keras epochs left; a shard that fails while its batch is
    read ahead (``feed.error``) is raised as its own one-line error."""
    try:
        model.fit(
            feed,
            epochs=n_epochs,
            steps_per_epoch=per_epoch,
            initial_epoch=epochs_done,
            shuffle=False,
            callbacks=callbacks,
            verbose="auto",
        )
    except Exception:
        if feed.error is not None:  # a shard that fails mid-training: one line naming it
            raise feed.error from None
        raise


def _schedule(config: TrainConfig, batches_per_epoch: int) -> tuple[int, int, int]:
    """(steps, steps per Keras epoch, Keras epochs): ``config.steps``, or ``config.epochs``
    passes over the split, rounded up to whole checkpoint intervals (a Keras epoch is one
    interval, so a checkpoint ends each)."""
    steps = config.steps or max(1, math.ceil(config.epochs * batches_per_epoch))
    per_epoch = min(config.checkpoint_every, steps)
    n_epochs = math.ceil(steps / per_epoch)
    return n_epochs * per_epoch, per_epoch, n_epochs


def _compiled_encoder(dataset: Dataset, decoder, recipe: str, scale, config: TrainConfig):
    """The voice encoder (Table 1; from a `pretrain` run with ``config.init``), compiled
    with the paper's Adam and exponential decay and the recipe's loss, on the devices of
    ``config.num_gpu`` / ``config.hosts``."""
    from speech2face.speech2face.models.voice_encoder import build_voice_encoder
    from speech2face.speech2face.training.pretrain import init_from_pretrained

    with distribution_scope(config.num_gpu, hosts=config.hosts):
        model = build_voice_encoder(dataset.feature_dim, config.preset, feature_scale=scale)
        if config.init:
            init_from_pretrained(model, config.init)
        schedule = keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate, config.decay_steps, config.decay_rate, staircase=True
        )
        loss = _loss(recipe, decoder, dataset, config, scale)
        model.compile(
            keras.optimizers.Adam(schedule, beta_1=config.beta_1, epsilon=config.epsilon),
            loss=loss,
            metrics=loss.metrics(),
        )
    return model


def _callbacks(dataset: Dataset, config: TrainConfig, run_dir: Path, logs: Path, n_hosts: int):
    """NaN stop, the fit figure (one host), checkpoints and history into ``run_dir``, and
    TensorBoard logs (TensorFlow backend)."""
    from speech2face.training.checkpoint import Checkpoint

    callbacks = [keras.callbacks.TerminateOnNaN()]  # stop with a message, not NaN weights
    if n_hosts == 1:  # its predictions would need every host (a global batch)
        callbacks.append(FitMonitor(*_fit_subset(dataset, config.fit_segments, config.seed)))
    callbacks.append(Checkpoint(run_dir / "checkpoint"))
    callbacks.append(keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True))
    if keras.backend.backend() == "tensorflow":
        callbacks.append(keras.callbacks.TensorBoard(str(logs), update_freq="epoch"))
    return callbacks


def _after_training(model, dataset: Dataset, config: TrainConfig, recipe, scale, n_hosts: int):
    """Precise BatchNorm statistics (one host) and, for the dlib recipe, the calibrated
    radius of the predictions (``config.calibrate_radius``)."""
    if config.precise_bn and n_hosts == 1:
        plain = SegmentBatches(dataset, "train", 16, shuffle=False, drop_last=False)
        _precise_statistics(model, plain)
    elif config.precise_bn:
        print("several hosts: BatchNorm keeps its moving averages (no precise statistics)")
    if recipe == "dlib" and config.calibrate_radius:
        model.get_layer("feature_scale").radius = typical_radius(dataset, *scale)
        model.predict_function = None  # traced with the old layer: trace again
