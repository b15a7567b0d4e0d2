"""Speech2Face voice encoder (Oh et al., CVPR 2019, Table 1) as a Keras functional model.

raw 16 kHz waveform (B, N) -> Spectrogram (B, T, 257, 2)
  -> conv 4x4 + BatchNorm + ReLU blocks: 64, 64, 128, [max-pool 2x1 over time], 128, [pool],
     128, [pool], 256, [pool], 512, 512 (stride 2), 512 (stride 2)
  -> average over the whole time axis (any input length works) -> BatchNorm, ReLU
  -> Dense 4096 + ReLU -> Dense feature_dim (the predicted face feature).
Pooling runs along time only, keeping the frequency resolution (the paper's point).

Optionally a last, frozen :class:`FeatureScale` layer maps the network's output from
standardised units to face-feature units (``mean + std * x``, train-split statistics), so the
network learns what tells faces apart rather than their common mean (the ``dlib`` recipe of
:mod:`speech2face.speech2face.training.config`), while the model still outputs face features.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from speech2face.speech2face.models.spectrogram import Spectrogram

# (channels, stride) of each conv; "pool" is a 2x1 max-pool over time
PAPER_BLOCKS = (64, 64, 128, "pool", 128, "pool", 128, "pool", 256, "pool", 512, (512, 2), (512, 2))
PRESETS = {
    "paper": dict(width=1.0, fc_units=4096),  # about 160 M parameters
    "small": dict(width=1 / 8, fc_units=256),  # CPU-sized: same depth, 1/8 of the channels
}


@keras.saving.register_keras_serializable(package="speech2face")
class TimeAverage(keras.layers.Layer):
    """Mean over the time axis: (B, T, F, C) -> (B, F, C); any T."""

    def call(self, x):
        return ops.mean(x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[3])


@keras.saving.register_keras_serializable(package="speech2face")
class FeatureScale(keras.layers.Layer):
    """Frozen map from standardised to face-feature units: ``mean + std * x``.

    With ``radius`` set, ``x`` is first scaled to that length: the prediction keeps the
    direction in which its face differs from the mean face and takes the typical distance
    of real faces from it. Why: a network trained with a squared error returns the
    conditional mean, which for a voice it has not heard is a blend of training faces close
    to the mean face; a face is not a blend, so the prediction is put back where real faces
    lie (about sqrt(dim) standard units from the mean).

    Args:
        mean, std: (dim,) per-dimension mean and standard deviation of the training
            targets; stored in the layer's config, so a saved model carries them.
        radius: None, or the length (standard units) every prediction is scaled to.
    Input (B, dim) float32 in standard units -> output (B, dim) face features.
    Raises:
        ValueError: mean and std of different shapes, std <= 0, or radius <= 0.
    """

    def __init__(self, mean, std, radius: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, np.float32).reshape(-1)
        self.std = np.asarray(std, np.float32).reshape(-1)
        if self.mean.shape != self.std.shape or np.any(self.std <= 0):
            raise ValueError("FeatureScale needs mean and std of one shape, std > 0")
        if radius is not None and radius <= 0:
            raise ValueError(f"FeatureScale radius must be positive, got {radius}")
        self.radius = None if radius is None else float(radius)

    def call(self, x):
        if self.radius is not None:
            x = x * (self.radius / (ops.norm(x, axis=-1, keepdims=True) + 1e-6))
        return x * ops.convert_to_tensor(self.std) + ops.convert_to_tensor(self.mean)

    def standardize(self, features):
        """Face features (B, dim) -> standard units (B, dim) (the inverse of the affine map)."""
        return (features - ops.convert_to_tensor(self.mean)) / ops.convert_to_tensor(self.std)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean.tolist(), std=self.std.tolist(), radius=self.radius)
        return config


def build_voice_encoder(
    feature_dim: int,
    preset: str = "small",
    width: float | None = None,
    fc_units: int | None = None,
    n_samples: int | None = None,
    feature_scale: tuple | None = None,
) -> keras.Model:
    """Build the voice encoder.

    Args:
        feature_dim: output face-feature dimension (128 dlib, 4096 VGG-Face fc7).
        preset: "paper" or "small"; ``width`` (channel multiplier) and ``fc_units`` override.
        n_samples: fixed input length, or None for any length (>= 400 samples).
        feature_scale: optional (mean, std) of the targets, each (feature_dim,): adds a
            last :class:`FeatureScale` layer named ``feature_scale`` after ``fc2``.
    Returns:
        Model: (B, n_samples) float32 waveform in [-1, 1] -> (B, feature_dim) float32.
    Raises:
        ValueError: unknown preset.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown voice encoder preset {preset!r}: use one of {sorted(PRESETS)}")
    width = PRESETS[preset]["width"] if width is None else width
    fc_units = PRESETS[preset]["fc_units"] if fc_units is None else fc_units
    waveform = keras.Input((n_samples,), name="waveform")
    x = Spectrogram(name="spectrogram")(waveform)
    conv = pool = 0
    for block in PAPER_BLOCKS:
        if block == "pool":
            pool += 1
            x = keras.layers.MaxPooling2D((2, 1), name=f"pool{pool}")(x)
            continue
        channels, stride = block if isinstance(block, tuple) else (block, 1)
        conv += 1
        x = keras.layers.Conv2D(
            max(4, int(channels * width)),
            4,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"conv{conv}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"bn{conv}")(x)
        x = keras.layers.ReLU(name=f"relu{conv}")(x)
    x = TimeAverage(name="time_average")(x)
    x = keras.layers.BatchNormalization(name="bn_pool")(x)
    x = keras.layers.ReLU(name="relu_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(fc_units, activation="relu", name="fc1")(x)
    feature = keras.layers.Dense(feature_dim, name="fc2")(x)
    if feature_scale is not None:
        feature = FeatureScale(*feature_scale, name="feature_scale")(feature)
    return keras.Model(waveform, feature, name=f"voice_encoder_{preset}")
