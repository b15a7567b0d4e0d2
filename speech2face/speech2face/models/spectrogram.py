"""Keras layer computing the Speech2Face spectrogram inside a model (Oh et al. 2019, §3.1).

Backend-agnostic (``keras.ops``): frames are gathered explicitly and transformed with
``keras.ops.rfft``, which is the framing of ``tf.signal.stft(x, 400, 160, 512)``.
``keras.ops.stft`` is not used: it frames with ``fft_length`` samples and centres the window
inside the frame, giving 597 frames and a phase shift for these settings.
"""

from __future__ import annotations

import keras
from keras import ops

from speech2face import audio


@keras.saving.register_keras_serializable(package="speech2face")
class Spectrogram(keras.layers.Layer):
    """Raw 16 kHz waveform -> compressed complex spectrogram.

    Input: (batch, n_samples) float32 waveform, n_samples >= 400 (96,000 for 6 s).
    Output: (batch, n_frames, 257, 2) float32, n_frames = 1 + (n_samples - 400) // 160
    (598 for 6 s); channel 0 is sign(re)|re|^0.3, channel 1 is sign(im)|im|^0.3.
    Equal to :func:`speech2face.audio.spectrogram` to about 1e-4 (float32 FFT rounding).

    Args:
        win_length, hop_length, n_fft: STFT framing in samples (400, 160, 512).
        power: compression exponent (0.3).
    """

    def __init__(
        self,
        win_length: int = audio.WIN_LENGTH,
        hop_length: int = audio.HOP_LENGTH,
        n_fft: int = audio.N_FFT,
        power: float = audio.POWER,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.win_length = int(win_length)
        self.hop_length = int(hop_length)
        self.n_fft = int(n_fft)
        self.power = float(power)
        self._window = audio.hann_window(self.win_length).astype("float32")

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        frames = None if n is None else 1 + (n - self.win_length) // self.hop_length
        return (input_shape[0], frames, self.n_fft // 2 + 1, 2)

    def call(self, waveform):
        waveform = ops.cast(waveform, "float32")
        n_samples = ops.shape(waveform)[-1]
        n_frames = 1 + (n_samples - self.win_length) // self.hop_length
        starts = ops.arange(n_frames) * self.hop_length
        index = ops.expand_dims(starts, 1) + ops.expand_dims(ops.arange(self.win_length), 0)
        frames = ops.take(waveform, index, axis=-1)  # (batch, frames, win)
        frames = frames * ops.convert_to_tensor(self._window)
        real, imag = ops.rfft(frames, fft_length=self.n_fft)
        pair = ops.stack([real, imag], axis=-1)
        return ops.sign(pair) * ops.power(ops.abs(pair), self.power)

    def get_config(self):
        config = super().get_config()
        config.update(
            win_length=self.win_length,
            hop_length=self.hop_length,
            n_fft=self.n_fft,
            power=self.power,
        )
        return config
