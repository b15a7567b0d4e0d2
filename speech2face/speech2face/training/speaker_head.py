"""Speech2Face on a pretrained speaker encoder: `speech2face train --voice-encoder ge2e`.

The voice encoder of the bundle becomes

    waveform (B, 96000) -> speaker encoder (frozen GE2E, :mod:`speech2face.voices`)
      -> (B, 256) embedding -> head -> FeatureScale -> (B, dim) face feature

and only the head learns, from the training split's (embedding, face feature) pairs: the
embeddings are computed once, so training takes seconds. The targets and the loss are the
``dlib`` recipe's (features standardised with train-split statistics, squared error +
normalised distance; :class:`~speech2face.speech2face.training.losses.StandardizedLoss`).

Why a head on a speaker encoder: eighteen training identities cannot teach a voice prior;
GE2E, trained for verification on ~8,400 speakers, already orders unseen voices by gender
(AUC 1.00 on the sample's unseen identities, issue 19), and a linear map on it carries that
to the face feature.

Heads (``head``):
    gender_ridge  a logistic gender classifier on the standardised embedding blends the two
           genders' mean faces (p(F) x female mean + (1 - p(F)) x male mean), and a ridge
           map adds the person's offset from their gender's mean; the radius calibration
           scales that offset to the typical within-gender distance. Why: a plain ridge
           shrinks an unheard voice toward the mean of all training faces, a face between
           the genders that the decoder renders ambiguous; here it shrinks toward its own
           gender's mean face (the cross-validated choice, docs/recipes.md).
    ridge  standardised embedding -> linear map, closed-form weighted ridge regression
           (``head_alpha``) onto the standardised targets; deterministic.
    mlp    standardised embedding -> Dense(head_hidden, ReLU) -> Dropout 0.5 -> Dense, Adam
           on StandardizedLoss for ``head_epochs`` full-batch epochs.

Balance (``balance``): sample weights so that every identity (``identity``), every gender
(``gender``), or every identity within equally weighted genders (``both``) counts the same,
in the fit, in the target statistics (the mean face is then the gender-balanced mean), and
in the radius. With 13 male of 18 training identities an unweighted fit puts unheard
voices on the male side.

Radius (``calibrate_radius``): predictions are put at ``radius_scale`` times the typical
(weighted RMS) distance of real faces from the mean face (for gender_ridge: of the offsets
from their gender's mean face), as in the ``dlib`` recipe. Why a scale below 1: for a voice
it has not heard, the offset the head predicts is mostly not that person's (identity
recall@1 is 2-3x chance, not 1), and at the full within-gender distance it carries the
rendered face across the gender boundary; cross-validated, half the distance keeps the
gender of 93 % of decoded faces (0.85 at the full distance) and the same identity recall.

``finetune_speaker_encoder`` then trains the LSTM too, end to end from the waveforms, at
``finetune_learning_rate`` for ``steps`` (default one epoch) steps of the paper's batch size.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face.errors import UserError

HEADS = ("gender_ridge", "ridge", "mlp")
BALANCE = ("none", "identity", "gender", "both")


def sample_weights(identities, genders, balance: str) -> np.ndarray:
    """Per-segment weights with mean 1 that make identities and/or genders count equally.

    Args:
        identities, genders: (N,) labels ("M"/"F"; anything else is a gender of its own).
        balance: one of :data:`BALANCE`.
    Returns:
        (N,) float64, mean 1.
    Raises:
        ValueError: an unknown balance.
    """
    if balance not in BALANCE:
        raise ValueError(f"unknown balance {balance!r}: use one of {', '.join(BALANCE)}")
    identities, genders = np.asarray(identities).astype(str), np.asarray(genders).astype(str)
    w = np.ones(len(identities))
    if balance in ("identity", "both"):
        ids, counts = np.unique(identities, return_counts=True)
        per = dict(zip(ids, counts, strict=True))
        w = np.array([1.0 / per[i] for i in identities])
    if balance in ("gender", "both"):
        for g in np.unique(genders):
            mask = genders == g
            w[mask] /= w[mask].sum()
    return w * (len(w) / w.sum()) if len(w) else w


def weighted_statistics(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted per-dimension mean and standard deviation of (N, D); std floored at 1e-3
    of its mean (no division by zero). Returns float32 (D,), (D,)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64) / np.sum(w)
    mean = w @ x
    std = np.sqrt(w @ np.square(x - mean))
    return mean.astype(np.float32), np.maximum(std, 1e-3 * std.mean()).astype(np.float32)


class HeadFit:
    """A fitted head in plain arrays (what :func:`fit_head` returns; no Keras needed to use it).

    Attributes:
        emb_mean, emb_std: (E,) standardisation of the embeddings.
        layers: [(kernel, bias), ...] Dense weights, ReLU between them (one for ridge).
        mean, std: (dim,) the targets' (weighted) statistics. radius: float or None.
        gender: None, or (kernel (E, 1), bias (1,), male mean (dim,), female - male (dim,))
            of the gender_ridge head, whose ``radius`` applies to the offset only.
    """

    def __init__(self, emb_mean, emb_std, layers, mean, std, radius, gender=None):
        self.emb_mean, self.emb_std, self.layers = emb_mean, emb_std, layers
        self.mean, self.std, self.radius, self.gender = mean, std, radius, gender

    def standard(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, E) embeddings -> (N, dim) predictions in standard units (radius applied)."""
        x0 = (np.asarray(embeddings, np.float64) - self.emb_mean) / self.emb_std
        x = x0
        for i, (kernel, bias) in enumerate(self.layers):
            x = x @ kernel + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0)
        if self.radius is not None:
            x = x * (self.radius / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6))
        if self.gender is not None:
            kernel, bias, base, delta = self.gender
            p_female = 0.5 * (1 + np.tanh(0.5 * (x0 @ kernel + bias)))  # the sigmoid
            x = x + base + p_female * delta
        return x

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, E) embeddings -> (N, dim) float32 face features."""
        return (self.standard(embeddings) * self.std + self.mean).astype(np.float32)


def _fit_gender(x, z, genders, w, c: float = 1.0):
    """The gender_ridge head's classifier and means; returns (gender tuple, offsets (N, dim))."""
    from sklearn.linear_model import LogisticRegression

    genders = np.asarray(genders).astype(str)
    known = np.isin(genders, ["M", "F"])
    if len(set(genders[known])) < 2:
        raise ValueError("the gender_ridge head needs training segments of both genders")
    clf = LogisticRegression(C=c, max_iter=5000).fit(
        x[known], genders[known] == "F", sample_weight=w[known]
    )
    means = {g: np.average(z[genders == g], axis=0, weights=w[genders == g]) for g in "MF"}
    offsets = z.copy()
    for g in "MF":
        offsets[genders == g] -= means[g]
    offsets[~known] -= np.average(z, axis=0, weights=w)
    gender = (
        clf.coef_.T.astype(np.float32),
        clf.intercept_.astype(np.float32),
        means["M"].astype(np.float32),
        (means["F"] - means["M"]).astype(np.float32),
    )
    return gender, offsets


def _fit_ridge(x, z, w, alpha):
    from sklearn.linear_model import Ridge

    ridge = Ridge(alpha=alpha).fit(x, z, sample_weight=w)
    return [(ridge.coef_.T.astype(np.float32), ridge.intercept_.astype(np.float32))]


def _fit_mlp(x, z, w, config):
    import keras

    from speech2face.speech2face.training.losses import StandardizedLoss

    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input((x.shape[1],))
    h = keras.layers.Dense(config.head_hidden, activation="relu", name="hidden")(inputs)
    h = keras.layers.Dropout(0.5)(h)
    model = keras.Model(inputs, keras.layers.Dense(z.shape[1], name="out")(h))
    loss = StandardizedLoss(np.zeros(z.shape[1]), np.ones(z.shape[1]), config.cosine_weight)
    model.compile(keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(
        x.astype(np.float32),
        z.astype(np.float32),
        sample_weight=w.astype(np.float32),
        batch_size=len(x),
        epochs=config.head_epochs,
        verbose=0,
    )
    return [tuple(model.get_layer(n).get_weights()) for n in ("hidden", "out")]


def fit_head(embeddings, features, identities, genders, config) -> HeadFit:
    """Fit the head from speaker embeddings to face features (see the module docstring).

    Args:
        embeddings: (N, E) speaker embeddings. features: (N, dim) true face features.
        identities, genders: (N,) labels, for the balance weights.
        config: a :class:`~speech2face.speech2face.training.config.TrainConfig` (head, head_alpha,
            head_hidden, head_epochs, balance, calibrate_radius, radius_scale,
            cosine_weight, seed).
    Raises:
        ValueError: an unknown head or balance, or no segments.
    """
    if config.head not in HEADS:
        raise ValueError(f"unknown head {config.head!r}: use one of {', '.join(HEADS)}")
    if not len(embeddings):
        raise ValueError("no training segments to fit the head on")
    w = sample_weights(identities, genders, config.resolved_balance())
    emb_mean, emb_std = weighted_statistics(embeddings, w)
    mean, std = weighted_statistics(features, w)
    x = (np.asarray(embeddings, np.float64) - emb_mean) / emb_std
    z = (np.asarray(features, np.float64) - mean) / std
    gender = None
    if config.head == "gender_ridge":
        gender, z = _fit_gender(x, z, genders, w)
    if config.head in ("ridge", "gender_ridge"):
        layers = _fit_ridge(x, z, w, config.head_alpha)
    else:
        layers = _fit_mlp(x, z, w, config)
    radius = None
    if config.calibrate_radius:  # of the offsets from the gender means, for gender_ridge
        typical = float(np.sqrt(np.average(np.sum(np.square(z), axis=1), weights=w)))
        radius = config.radius_scale * typical
    return HeadFit(emb_mean, emb_std, layers, mean, std, radius, gender)


def build_model(window, head: HeadFit, name: str = "voice_encoder_speaker"):
    """The bundle's voice encoder: speaker-encoder window model + head + FeatureScale.

    Args:
        window: Keras model (B, n_samples) -> (B, E) (``SpeakerEncoder.window_model``).
        head: a fitted :class:`HeadFit`.
    Returns:
        Keras model (B, n_samples) float32 waveform -> (B, dim) float32 face features; its
        head layers are ``head_input`` (standardisation), ``head1..``, for gender_ridge
        ``head_radius``, ``head_gender`` (p(F)) and ``head_gender_mean``, and
        ``feature_scale``.
    """
    import keras

    from speech2face.speech2face.models.voice_encoder import FeatureScale

    x = keras.layers.Normalization(
        mean=head.emb_mean, variance=np.square(head.emb_std), name="head_input"
    )(window.output)
    weights, z = {}, x
    for i, (kernel, bias) in enumerate(head.layers, 1):
        last = i == len(head.layers)
        dense = f"head{i}"
        z = keras.layers.Dense(kernel.shape[1], activation=None if last else "relu", name=dense)(z)
        weights[dense] = (kernel, bias)
    radius = head.radius
    if head.gender is not None:
        dim = len(head.mean)
        if radius is not None:  # the offset from the gender mean, at its typical length
            z = FeatureScale(np.zeros(dim), np.ones(dim), radius, name="head_radius")(z)
            radius = None
        kernel, bias, base, delta = head.gender
        p = keras.layers.Dense(1, activation="sigmoid", name="head_gender")(x)
        mix = keras.layers.Dense(dim, name="head_gender_mean")(p)
        z = keras.layers.Add(name="head_output")([z, mix])
        weights["head_gender"] = (kernel, bias)
        weights["head_gender_mean"] = (delta[None, :], base)
    feature = FeatureScale(head.mean, head.std, radius, name="feature_scale")(z)
    model = keras.Model(window.input, feature, name=name)
    for layer_name, values in weights.items():
        model.get_layer(layer_name).set_weights([np.asarray(v, np.float32) for v in values])
    return model


def embed_split(dataset, split: str | None, encoder, fields=("identity", "gender", "feature")):
    """Speaker embeddings of every segment of a split (None: all splits), and the fields
    asked for (``audio`` among them keeps the int16 samples).

    Returns:
        {"embedding": (N, E) float32, field: (N, ...) ...}.
    """
    from speech2face import audio
    from speech2face.dataset.shards import decode_audio
    from speech2face.voices import embed_windows

    data = dataset.load(split, tuple(dict.fromkeys(("audio", *fields))))
    samples = data["audio"] if "audio" in fields else data.pop("audio")
    window = encoder.window_model(audio.N_SAMPLES)
    data["embedding"] = embed_windows(window, decode_audio(samples), progress=True)
    return data


def _finetune(model, dataset, config, scale, out: Path) -> int:
    """Train the whole model (LSTM included) from waveforms; returns the steps run."""
    import keras

    from speech2face.speech2face.data.batches import SegmentBatches
    from speech2face.speech2face.training.losses import StandardizedLoss
    from speech2face.speech2face.training.voice import StepBatches, balance_weights

    weights = balance_weights(dataset, config.resolved_balance())
    fields = ("audio", "feature") + (("identity",) if weights else ())
    batches = SegmentBatches(dataset, "train", config.batch_size, fields=fields, seed=config.seed)
    steps = config.steps or max(1, math.ceil(config.epochs * len(batches)))
    for layer in model.layers:
        layer.trainable = layer.name not in ("head_input", "feature_scale")
        if hasattr(layer, "layer"):  # TimeDistributed does not pass it to the wrapped model
            layer.layer.trainable = layer.trainable
    loss = StandardizedLoss(*scale, cosine_weight=config.cosine_weight)
    model.compile(keras.optimizers.Adam(config.finetune_learning_rate), loss=loss)
    feed = StepBatches(batches, 0, steps, config.readers, weights)
    model.fit(feed, epochs=1, steps_per_epoch=steps)
    return steps


def train_speaker_head(data, decoder_dir, out, config) -> object:
    """Train the head on a pretrained speaker encoder; write the bundle into ``out``.

    Args:
        data: dataset folder. decoder_dir: a `train-decoder` run. out: bundle folder.
        config: a :class:`~speech2face.speech2face.training.config.TrainConfig` with
        ``voice_encoder``
            set to a speaker-encoder name or a ``.keras`` file.
    Returns:
        The bundle's voice encoder (Keras model (B, 96000) -> (B, dim)).
    Raises:
        UserError: an unknown speaker encoder, head or balance; an empty train split;
            a missing or mismatched decoder.
    """
    from speech2face import voices
    from speech2face.speech2face.bundle import MEAN_FILE, write_bundle
    from speech2face.speech2face.data.reader import Dataset
    from speech2face.speech2face.training.voice import _load_decoder

    out, decoder_dir = Path(out), Path(decoder_dir)
    dataset = Dataset(data)
    decoder = _load_decoder(decoder_dir, dataset)
    encoder = voices.get(config.voice_encoder, config.speaker_weights)
    if not dataset.index("train"):
        raise UserError(f"{data}: no segments in the train split")
    train = embed_split(dataset, "train", encoder)
    try:
        head = fit_head(
            train["embedding"], train["feature"], train["identity"], train["gender"], config
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from speech2face import audio

    model = build_model(encoder.window_model(audio.N_SAMPLES), head)
    print(
        f"voice encoder ({encoder.name} + {config.head} head, balance "
        f"{config.resolved_balance()}): {len(train['embedding'])} training segments of "
        f"{len(set(train['identity']))} identities, {model.count_params():,} parameters"
    )
    steps = 0
    if config.finetune_speaker_encoder:
        steps = _finetune(model, dataset, config, (head.mean, head.std), out)
    write_bundle(
        out,
        model,
        decoder,
        decoder_dir / MEAN_FILE,
        face_encoder=dataset.face_encoder,
        feature_dim=dataset.feature_dim,
        train={**asdict(config), "recipe": "dlib", "balance": config.resolved_balance()},
        steps=steps,
        dataset=dataset.root,
        decoder_run=decoder_dir,
        voice_front_end={"voice_encoder": encoder.name, "vad": bool(encoder.vad)},
    )
    return model
