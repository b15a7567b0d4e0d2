"""The building blocks of the Wav2Pix models (:mod:`speech2face.wav2pix.model`): the
authors' initialisations, the config base class, the generator's dropout, the tiled
embedding of the discriminator and the export of spectral normalisation.

Weights start as N(0, 0.02) for every conv and dense kernel and N(1, 0.02) for BatchNorm
scales (the authors' ``scripts/utils.py: weights_init``); biases keep PyTorch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which that function left alone.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def kernel_init(seed=None):
    """N(0, 0.02), the authors' initialisation of every conv and dense kernel."""
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)


def bias_init(fan_in: int):
    """PyTorch's default bias initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the authors'
    ``weights_init`` reset only the weights, so their biases kept it."""
    bound = 1.0 / float(fan_in) ** 0.5
    return keras.initializers.RandomUniform(-bound, bound)


def dense(units: int, x, name: str, activation=None):
    """``keras.layers.Dense`` with the authors' kernel and PyTorch's bias initialisation,
    applied to ``x``."""
    layer = keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=kernel_init(),
        bias_initializer=bias_init(x.shape[-1]),
        name=name,
    )
    return layer(x)


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """BatchNorm as PyTorch's defaults (momentum 0.9 = PyTorch 0.1, eps 1e-5), scales
    N(1, 0.02)."""
    return keras.layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
        name=name,
    )


class ConfigModel(keras.Model):
    """Functional model whose config is its constructor arguments (keras-hub style)."""

    _args: tuple[str, ...] = ()

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update({k: getattr(self, "_cfg_" + k) for k in self._args})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _keep(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, "_cfg_" + k, list(v) if isinstance(v, tuple) else v)


@keras.saving.register_keras_serializable(package="speech2face")
class NoiseDropout(keras.layers.Dropout):
    """Dropout that replaces the generator's noise input; ``at_inference`` keeps it on
    outside training (the authors' behaviour: their generator never left training mode)."""

    def __init__(self, rate, at_inference: bool = False, **kwargs):
        super().__init__(rate, **kwargs)
        self.at_inference = bool(at_inference)

    def call(self, inputs, training=False):
        return super().call(inputs, training=bool(training) or self.at_inference)

    def get_config(self):
        return {**super().get_config(), "at_inference": self.at_inference}


@keras.saving.register_keras_serializable(package="speech2face")
class TileEmbedding(keras.layers.Layer):
    """(B, D) -> (B, size, size, D): the embedding repeated at every position."""

    def __init__(self, size: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, x):
        x = ops.reshape(x, (-1, 1, 1, ops.shape(x)[-1]))
        return ops.tile(x, (1, self.size, self.size, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def spectral_layers(model) -> list:
    """Every ``SpectralNormalization`` layer inside ``model`` (nested models included)."""
    from speech2face.models import nested_layers

    return nested_layers(model, keras.layers.SpectralNormalization)


def bake_spectral_norm(model) -> None:
    """Write kernel / sigma into every spectral-normalised layer, so that inference calls
    (``training=False``) use the normalised kernels.

    sigma is the exact largest singular value of the kernel seen as a (-1, out_channels)
    matrix (numpy SVD, once at export), not a power-iteration estimate, whose error from a
    stored vector can reach a few per cent; ``vector_u`` is set to the matching singular
    vector, so further power iterations stay at sigma 1 (Miyato et al., ICLR 2018).
    """
    for layer in spectral_layers(model):
        kernel = np.asarray(layer.kernel, np.float64)
        matrix = kernel.reshape(-1, kernel.shape[-1])
        _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
        layer.kernel.assign((kernel / singular[0]).astype(np.float32))
        layer.vector_u.assign(vt[:1].astype(np.float32))
