"""A pretrained speaker encoder as Wav2Pix's speech encoder (``--speech-encoder ge2e``).

Not in the paper (Duarte et al., ICASSP 2019 train their SEGAN encoder with the GAN): an
option measured against the authors' encoder (docs/wav2pix.md). The frozen speaker encoder
(:mod:`speech2face.voices`) sees the waveform with Wav2Pix's pre-emphasis undone; a trained
Dense maps its embedding to the 128-D condition of the generator, discriminator and
speaker classifier of :mod:`speech2face.wav2pix.model`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from speech2face.wav2pix.config import WINDOW
from speech2face.wav2pix.layers import ConfigModel, dense
from speech2face.wav2pix.model import EMBEDDING_DIM


@keras.saving.register_keras_serializable(package="speech2face")
class DeEmphasis(keras.layers.Layer):
    """Undo the pre-emphasis of :func:`speech2face.wav2pix.pairs.scale_and_emphasize`: x[n] =
    y[n] + coef x[n-1], as a causal FIR filter of ``taps`` powers of ``coef`` (0.95^256 is
    2e-6, so the truncation is below float32 rounding of the signal). (B, n) -> (B, n)."""

    def __init__(self, coef: float = 0.95, taps: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.coef, self.taps = float(coef), int(taps)

    def call(self, y):
        kernel = self.coef ** np.arange(self.taps - 1, -1, -1, dtype=np.float64)
        kernel = ops.convert_to_tensor(kernel.astype(np.float32).reshape(self.taps, 1, 1))
        y = ops.pad(
            ops.expand_dims(ops.cast(y, "float32"), -1), [[0, 0], [self.taps - 1, 0], [0, 0]]
        )
        return ops.squeeze(ops.conv(y, kernel, padding="valid"), -1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "coef": self.coef, "taps": self.taps}


@keras.saving.register_keras_serializable(package="speech2face")
class SpeakerSpeechEncoder(ConfigModel):
    """A pretrained speaker encoder as Wav2Pix's speech encoder (``speech_encoder="ge2e"``):
    (B, n_samples) preprocessed waveform -> de-emphasis -> the frozen speaker encoder
    (:mod:`speech2face.voices`, GE2E: 256-D) -> Dense ``embedding_dim`` (trained) = the
    embedding the generator, discriminator and classifier take, as the SEGAN encoder's.

    Not in the paper: an option measured against the authors' encoder (docs/wav2pix.md).
    """

    _args = ("speaker_encoder", "embedding_dim", "n_samples")

    def __init__(
        self,
        speaker_encoder: str = "ge2e",
        embedding_dim: int = EMBEDDING_DIM,
        n_samples: int = WINDOW,
        **kwargs,
    ):
        from speech2face import voices

        wave = keras.Input((n_samples,), name="waveform")
        x = DeEmphasis(name="de_emphasis")(wave)
        x = voices.get(speaker_encoder).window_model(n_samples)(x)
        emb = dense(embedding_dim, x, "embedding")
        kwargs.setdefault("name", "speech_encoder")
        super().__init__(wave, emb, **kwargs)
        self._keep(
            speaker_encoder=speaker_encoder, embedding_dim=embedding_dim, n_samples=n_samples
        )
