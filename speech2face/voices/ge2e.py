"""GE2E speaker encoder (Wan et al., ICASSP 2018) as Resemblyzer defines it, in Keras 3.

The network and its weights are Resemblyzer's (resemble-ai/Resemblyzer 0.1.4, Apache-2.0;
a 3-layer LSTM trained for speaker verification on about 8,400 speakers of LibriSpeech and
VoxCeleb1/2). Its facts (``hparams.py``, ``audio.py``, ``voice_encoder.py``):

    16 kHz waveform -> volume normalised to -30 dBFS (increase only) -> long silences cut
    by a VAD (webrtcvad, 30 ms windows, aggressiveness 3, moving average over 8 windows,
    silences kept up to 6 windows)
    -> mel power spectrogram: 25 ms periodic Hann window (400 samples), 10 ms hop (160),
       400-point FFT, centred frames (zero padding), 40 Slaney mel bands, no log
    -> partials of 160 frames (1.6 s) every 77 frames (1.3 partials a second), the last
       kept when >= 75 % of it is covered by the waveform (zero padded to its end)
    -> LSTM(40 -> 256) x 3, the last layer's final hidden state -> Dense 256 -> ReLU -> L2
    -> utterance embedding: the L2-normalised mean of the partial embeddings, (256,) >= 0.

Everything here is ``keras.ops``, so the encoder runs on any Keras backend. The weights are
package data (``ge2e.weights.h5``, converted once from Resemblyzer's ``pretrained.pt`` by
``preprocess/convert_ge2e.py``; its sha256 is checked before every load; the licence is
``GE2E_LICENSE`` beside it).

    from speech2face.voices import ge2e
    embedding = ge2e.embed_utterance(wave)            # (256,) float32, L2-normalised
    model = ge2e.build_window_encoder(96_000)         # (B, 96000) -> (B, 256), in a graph
"""

from __future__ import annotations

import hashlib
import math
from functools import cache
from pathlib import Path

import keras
import numpy as np
from keras import ops

from speech2face.audio import SAMPLE_RATE  # 16 kHz, the GE2E rate too

WIN_LENGTH = 400  # samples: 25 ms mel window (and FFT size)
HOP_LENGTH = 160  # samples: 10 ms hop
N_MELS = 40  # mel bands
PARTIAL_FRAMES = 160  # frames in a partial utterance: 1.6 s
PARTIALS_PER_SECOND = 1.3  # partial utterances per second of waveform
MIN_COVERAGE = 0.75  # the last partial is kept when the waveform covers this much of it
HIDDEN = 256  # LSTM units
LAYERS = 3  # stacked LSTM layers
DIM = 256  # embedding size
TARGET_DBFS = -30.0  # volume normalisation target (increase only)
VAD_WINDOW = 480  # samples: 30 ms webrtcvad windows
VAD_MODE = 3  # webrtcvad aggressiveness (0-3)
VAD_SMOOTHING = 8  # windows in the moving average of the voice flags
VAD_MAX_SILENCE = 6  # silent windows kept around speech
INT16_MAX = 2**15 - 1

WEIGHTS_FILE = Path(__file__).with_name("ge2e.weights.h5")
WEIGHTS_SHA256 = "e30cc12dd8a2a80355ab77103113c4ec1a3730453925f0542af00985a5cfe10e"
SOURCE = "Resemblyzer 0.1.4 (PyPI wheel), resemblyzer/pretrained.pt, Apache-2.0"


# --- front end (numpy) --------------------------------------------------------------


def frame_step() -> int:
    """Frames between two partial utterances (77 at 1.3 partials a second)."""
    return int(round(SAMPLE_RATE / PARTIALS_PER_SECOND / HOP_LENGTH))


def partial_starts(n_samples: int) -> tuple[list[int], int]:
    """Where the partial utterances of a waveform start, and the length it is padded to.

    Args:
        n_samples: waveform length in samples (>= 0).
    Returns:
        (start frame of each partial, at least one; padded length in samples). The
        waveform is zero padded to the padded length when that is longer than it, and the
        mel spectrogram of the padded waveform is sliced at ``start : start + 160``.
    """
    n_frames = math.ceil((n_samples + 1) / HOP_LENGTH)
    step = frame_step()
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    span = PARTIAL_FRAMES * HOP_LENGTH
    coverage = (n_samples - starts[-1] * HOP_LENGTH) / span
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts = starts[:-1]
    return starts, max(n_samples, starts[-1] * HOP_LENGTH + span)


def normalize_volume(wave: np.ndarray, target_dbfs: float = TARGET_DBFS) -> np.ndarray:
    """Scale a waveform up to ``target_dbfs`` (RMS, dB full scale); a louder one is kept.

    Args:
        wave: (n,) float waveform in [-1, 1]. Returns: (n,) float32; silence stays silence.
    """
    wave = np.asarray(wave, np.float32)
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    if rms == 0.0:
        return wave
    gain_db = target_dbfs - 20 * math.log10(rms)
    return wave * np.float32(10 ** (gain_db / 20)) if gain_db > 0 else wave


def voice_mask(wave: np.ndarray) -> np.ndarray:
    """Which samples a VAD keeps: speech and silences of up to 6 x 30 ms around it.

    webrtcvad (``webrtcvad-wheels``) flags each 30 ms window of the waveform as 16-bit PCM;
    the flags are smoothed by a centred moving average over 8 windows, rounded, and dilated
    by 6 windows on each side.

    Args:
        wave: (n,) float waveform at 16 kHz. Returns: (n - n % 480,) bool.
    """
    import webrtcvad
    from scipy.ndimage import binary_dilation

    usable = len(wave) - len(wave) % VAD_WINDOW
    pcm = np.round(np.asarray(wave[:usable], np.float64) * INT16_MAX).astype("<i2")
    vad = webrtcvad.Vad(VAD_MODE)
    flags = np.array(
        [
            vad.is_speech(pcm[i : i + VAD_WINDOW].tobytes(), SAMPLE_RATE)
            for i in range(0, usable, VAD_WINDOW)
        ],
        dtype=np.float64,
    )
    if not flags.size:
        return np.zeros(0, bool)
    width = VAD_SMOOTHING  # centred moving average, zeros beyond both ends
    padded = np.concatenate([np.zeros((width - 1) // 2), flags, np.zeros(width // 2)])
    sums = np.convolve(padded, np.ones(width), mode="valid")[: len(flags)]
    mask = np.round(sums / width).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_MAX_SILENCE + 1, bool))
    return np.repeat(mask, VAD_WINDOW)


def trim_long_silences(wave: np.ndarray) -> np.ndarray:
    """The waveform with silences longer than about 180 ms cut out (:func:`voice_mask`).

    Returns the (m,) float32 kept samples; when the VAD finds no speech at all, the
    waveform itself (less its last partial 30 ms window), so a prediction is still made.
    """
    wave = np.asarray(wave, np.float32)
    mask = voice_mask(wave)
    kept = wave[: mask.size][mask]
    return kept if kept.size else wave[: mask.size] if mask.size else wave


def preprocess(wave: np.ndarray) -> np.ndarray:
    """Resemblyzer's ``preprocess_wav`` for a 16 kHz waveform: volume, then VAD trimming."""
    return trim_long_silences(normalize_volume(wave))


# --- Keras layers --------------------------------------------------------------------


@cache
def _mel_filters() -> np.ndarray:
    import librosa

    # Slaney-style mel filterbank (librosa's defaults), (201, 40)
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WIN_LENGTH, n_mels=N_MELS).T.astype(np.float32)


@keras.saving.register_keras_serializable(package="speech2face")
class VolumeNormalization(keras.layers.Layer):
    """Per-example gain up to -30 dBFS RMS (increase only): (B, N) -> (B, N) float32.

    The in-graph form of :func:`normalize_volume`, applied to each window a model sees;
    digital silence gets a bounded gain (its RMS is floored at 1e-6) and stays silence.
    """

    def __init__(self, target_dbfs: float = TARGET_DBFS, **kwargs):
        super().__init__(**kwargs)
        self.target_dbfs = float(target_dbfs)

    def call(self, wave):
        wave = ops.cast(wave, "float32")
        rms = ops.sqrt(ops.mean(ops.square(wave), axis=-1, keepdims=True))
        target = 10.0 ** (self.target_dbfs / 20.0)
        return wave * ops.maximum(1.0, target / ops.maximum(rms, 1e-6))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "target_dbfs": self.target_dbfs}


@keras.saving.register_keras_serializable(package="speech2face")
class MelSpectrogram(keras.layers.Layer):
    """Waveform -> GE2E mel power spectrogram, as ``librosa.feature.melspectrogram``.

    Frames are centred (``WIN_LENGTH // 2`` zeros on each side, librosa's ``center=True``
    with ``pad_mode="constant"``), windowed by a periodic Hann window, transformed with a
    400-point real FFT, squared, and projected on 40 Slaney mel bands.

    Input (B, N) float32 at 16 kHz -> (B, 1 + N // 160, 40) float32 (power, no log).
    """

    def compute_output_shape(self, input_shape):
        n = input_shape[-1]
        return (input_shape[0], None if n is None else 1 + n // HOP_LENGTH, N_MELS)

    def call(self, wave):
        wave = ops.cast(wave, "float32")
        half = WIN_LENGTH // 2
        wave = ops.pad(wave, [[0, 0], [half, half]])
        n_frames = 1 + (ops.shape(wave)[-1] - WIN_LENGTH) // HOP_LENGTH
        index = ops.expand_dims(ops.arange(n_frames) * HOP_LENGTH, 1) + ops.arange(WIN_LENGTH)
        frames = ops.take(wave, index, axis=-1)  # (B, frames, 400)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN_LENGTH) / WIN_LENGTH)
        real, imag = ops.rfft(frames * window.astype(np.float32), fft_length=WIN_LENGTH)
        power = ops.square(real) + ops.square(imag)  # (B, frames, 201)
        return ops.matmul(power, ops.convert_to_tensor(_mel_filters()))


@keras.saving.register_keras_serializable(package="speech2face")
class Partials(keras.layers.Layer):
    """Pad a fixed-length waveform's mel spectrogram input and cut it into partials.

    Input (B, N) float32 waveform, N fixed -> (B, P, 160, 40): the mel spectrogram of the
    waveform zero padded as :func:`partial_starts` says, sliced at each partial's start.

    Args:
        n_samples: the waveform length N the layer is built for (96,000 for 6 s).
    """

    def __init__(self, n_samples: int, **kwargs):
        super().__init__(**kwargs)
        self.n_samples = int(n_samples)
        self.starts, self.padded = partial_starts(self.n_samples)
        self.mel = MelSpectrogram(name="mel")

    def build(self, input_shape):
        self.mel.build((input_shape[0], self.padded))

    def call(self, wave):
        wave = ops.pad(ops.cast(wave, "float32"), [[0, 0], [0, self.padded - self.n_samples]])
        mel = self.mel(wave)
        return ops.stack([mel[:, s : s + PARTIAL_FRAMES] for s in self.starts], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.starts), PARTIAL_FRAMES, N_MELS)

    def get_config(self):
        return {**super().get_config(), "n_samples": self.n_samples}


@keras.saving.register_keras_serializable(package="speech2face")
class L2Normalize(keras.layers.Layer):
    """x / ||x|| over the last axis (a zero vector stays zero): (..., D) -> (..., D)."""

    def call(self, x):
        return x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="speech2face")
class MeanEmbedding(keras.layers.Layer):
    """The utterance embedding: L2-normalised mean of partial embeddings (B, P, D) -> (B, D)."""

    def call(self, x):
        mean = ops.mean(x, axis=1)
        return mean / ops.maximum(ops.norm(mean, axis=-1, keepdims=True), 1e-12)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def build_partial_encoder(name: str = "ge2e_partial") -> keras.Model:
    """The GE2E network on partial utterances: (B, 160, 40) mel -> (B, 256) L2 embeddings.

    Layers ``ge2e_lstm1..3`` (LSTM, the last returns its final hidden state) and
    ``ge2e_linear`` (Dense + ReLU), then L2 normalisation. Weights are not loaded here.
    """
    mel = keras.Input((PARTIAL_FRAMES, N_MELS), name="mel_partial")
    x = mel
    for layer in range(1, LAYERS + 1):
        x = keras.layers.LSTM(HIDDEN, return_sequences=layer < LAYERS, name=f"ge2e_lstm{layer}")(x)
    x = keras.layers.Dense(DIM, activation="relu", name="ge2e_linear")(x)
    return keras.Model(mel, L2Normalize(name="ge2e_l2")(x), name=name)


def load_weights(model: keras.Model, path: str | Path | None = None) -> keras.Model:
    """Set the converted Resemblyzer weights on the GE2E layers of ``model`` (nested models
    too, not a model inside a wrapper such as TimeDistributed), by layer name; every one of
    them must be found.

    Args:
        path: the HDF5 file (default: the package's ``ge2e.weights.h5``, whose sha256 is
            checked first; a user's file is checked for its layout only).
    Raises:
        DamagedFileError: the package file is missing, altered or of another layout.
    """
    import h5py

    from speech2face.integrity import DamagedFileError

    path = Path(path) if path else WEIGHTS_FILE
    fix = "reinstall speech2face (`pip install --force-reinstall speech2face`)"
    if path == WEIGHTS_FILE:
        if not path.is_file():
            raise DamagedFileError(f"{path}: the GE2E weights file is missing; {fix}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA256:
            raise DamagedFileError(f"{path}: sha256 {digest[:12]}... is not the shipped one; {fix}")
    from speech2face.models import nested_layers

    layers = {layer.name: layer for layer in nested_layers(model, keras.layers.Layer)}
    wanted = [f"ge2e_lstm{i}" for i in range(1, LAYERS + 1)] + ["ge2e_linear"]
    if any(name not in layers for name in wanted):
        raise ValueError(f"{model.name} lacks GE2E layers {[n for n in wanted if n not in layers]}")
    try:
        with h5py.File(path, "r") as f:
            for name in wanted:
                keys = (
                    ("kernel", "recurrent_kernel", "bias") if "lstm" in name else ("kernel", "bias")
                )
                layers[name].set_weights([np.asarray(f[name][k], np.float32) for k in keys])
    except (OSError, KeyError, ValueError) as exc:
        raise DamagedFileError(f"{path}: not a GE2E weights file ({exc}); {fix}") from None
    return model


def build_window_encoder(
    n_samples: int, weights: str | Path | None = None, trainable: bool = False
) -> keras.Model:
    """GE2E on fixed-length windows, inside a Keras graph (what a bundle's voice encoder
    starts with).

    Each window is volume normalised on its own (:class:`VolumeNormalization`), cut into
    the partials of :func:`partial_starts` and embedded; the VAD, which changes lengths,
    is left to the caller (:func:`preprocess` on the whole recording).

    Args:
        n_samples: window length (96,000 samples for the 6 s segments).
        weights: a weights file (default: the shipped one). trainable: False freezes the
            LSTM and the linear layer (the default).
    Returns:
        Model "ge2e": (B, n_samples) float32 waveform -> (B, 256) L2-normalised embedding.
    """
    wave = keras.Input((n_samples,), name="waveform")
    partials = Partials(n_samples, name="ge2e_partials")(
        VolumeNormalization(name="ge2e_volume")(wave)
    )
    partial = load_weights(build_partial_encoder(), weights)
    partial.trainable = trainable
    x = keras.layers.TimeDistributed(partial, name="ge2e_partial_embeddings")(partials)
    model = keras.Model(wave, MeanEmbedding(name="ge2e_embedding")(x), name="ge2e")
    return model


@cache
def _utterance_parts(weights: str | None):
    partial = load_weights(build_partial_encoder(), weights)
    return MelSpectrogram(name="mel"), partial


def embed_utterance(
    wave: np.ndarray, preprocessed: bool = False, weights: str | Path | None = None
) -> np.ndarray:
    """Embedding of a 16 kHz waveform of any length (Resemblyzer's ``embed_utterance``).

    Args:
        wave: (n,) float waveform at 16 kHz in [-1, 1].
        preprocessed: True when :func:`preprocess` was applied already (volume and VAD);
            False applies it here.
        weights: a weights file (default: the shipped one).
    Returns:
        (256,) float32, L2-normalised, non-negative.
    Raises:
        ValueError: a sample is NaN or infinite.
    """
    wave = np.asarray(wave, np.float32).reshape(-1)
    if not np.isfinite(wave).all():
        raise ValueError("waveform has NaN or infinite samples")
    if not preprocessed:
        wave = preprocess(wave)
    starts, padded = partial_starts(wave.size)
    wave = np.pad(wave, (0, padded - wave.size))
    mel_layer, partial = _utterance_parts(None if weights is None else str(weights))
    mel = np.asarray(mel_layer(wave[None]))[0]
    mels = np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts])
    embeds = np.asarray(partial.predict_on_batch(mels), np.float64)
    mean = embeds.mean(0)
    return (mean / np.linalg.norm(mean)).astype(np.float32)
