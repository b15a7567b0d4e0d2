"""Audio front end of Speech2Face (Oh et al., CVPR 2019, §3.1).

Waveforms are float32 mono at 16 kHz in [-1, 1]. A segment is 6 s (96,000 samples);
its spectrogram is a 25 ms periodic Hann STFT every 10 ms with a 512-point FFT and no
centring, whose real and imaginary parts are compressed independently by
sign(x) * |x| ** 0.3, giving (598, 257, 2).

Decoding uses PyAV (FFmpeg in-process), so every container FFmpeg reads works without
an ffmpeg binary. This module never imports TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speech2face.errors import UserError

SAMPLE_RATE = 16000  # Hz
SILENCE_RMS = 0.003  # RMS (full scale 1.0), about -50 dBFS: quieter windows are silence
CLIP_SECONDS = 6  # seconds per segment
N_SAMPLES = SAMPLE_RATE * CLIP_SECONDS  # 96,000 samples in a segment
WIN_LENGTH = 400  # samples: 25 ms window
HOP_LENGTH = 160  # samples: 10 ms hop
N_FFT = 512  # FFT points (window zero-padded from 400)
POWER = 0.3  # power-law compression exponent

SIDECAR_SUFFIX = ".wav"  # silent videos take their speech from <stem>.wav beside them


def constants() -> dict:
    """The front end's constants, recorded in dataset manifests and model bundles."""
    return {
        "sample_rate": SAMPLE_RATE,
        "clip_seconds": CLIP_SECONDS,
        "win_length": WIN_LENGTH,
        "hop_length": HOP_LENGTH,
        "n_fft": N_FFT,
        "power": POWER,
    }


class AudioError(UserError):
    """A file could not give a waveform; the message names the file and the cause."""


def find_sidecar(path: str | os.PathLike) -> Path | None:
    """Return the sidecar ``<stem>.wav`` beside a silent video, or None if there is none."""
    path = Path(path)
    sidecar = path.with_suffix(SIDECAR_SUFFIX)
    if sidecar != path and sidecar.is_file():
        return sidecar
    return None


def _decode(path: Path, sr: int) -> np.ndarray | None:
    """Decode the first audio stream of ``path`` to float32 mono at ``sr`` Hz.

    Returns None when the container has no audio stream. Raises AudioError when
    FFmpeg cannot open or decode the file.
    """
    import av  # PyAV

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: cannot decode ({exc.__class__.__name__}: {exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        chunks = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise AudioError(f"{path}: cannot decode audio ({exc})") from None
    if not chunks:
        return np.zeros(0, np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike,
    sr: int = SAMPLE_RATE,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Read any audio or video file as a mono float32 waveform.

    Channels are mixed down and the signal resampled to ``sr`` by FFmpeg's swresample
    (through PyAV). A video without an audio track takes its speech from a sidecar
    ``<stem>.wav`` beside it.

    Args:
        path: wav, flac, mp3, mp4, mpg (mp2), m4a, webm, ... anything FFmpeg reads.
        sr: output sample rate in Hz.
        start, end: optional window in seconds; the returned waveform covers [start, end).

    Returns:
        float32 array of shape (n_samples,), values clipped to [-1, 1].

    Raises:
        AudioError: the file is missing, empty, undecodable, has no audio stream and no
            sidecar, decodes to no samples, or holds NaN or infinite samples (a damaged
            float wav: never passed on to a model or a shard). The message names the file
            and the cause.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not a media file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")
    wave = _decode(path, sr)
    if wave is None:
        sidecar = find_sidecar(path)
        if sidecar is None:
            raise AudioError(
                f"{path}: no audio stream, and no sidecar {path.with_suffix(SIDECAR_SUFFIX).name}"
            )
        wave = _decode(sidecar, sr)
        if wave is None:
            raise AudioError(f"{sidecar}: sidecar has no audio stream")
    if start is not None or end is not None:
        lo = int(round((start or 0.0) * sr))
        hi = len(wave) if end is None else int(round(end * sr))
        wave = wave[max(lo, 0) : max(hi, 0)]
    if wave.size == 0:
        raise AudioError(f"{path}: no audio samples decoded")
    bad = wave.size - int(np.count_nonzero(np.isfinite(wave)))
    if bad:
        raise AudioError(
            f"{path}: {bad:,} of {wave.size:,} samples are NaN or infinite (a damaged float "
            "recording); re-export it"
        )
    return np.clip(wave, -1.0, 1.0, out=wave)  # in place: long recordings are not copied again


def duration(path: str | os.PathLike) -> float:
    """Length in seconds of the speech of a media file, from its header when it has one.

    A silent video is measured by its sidecar ``<stem>.wav``; a header without a duration
    (some streams) falls back to decoding.

    Raises:
        AudioError: as :func:`load_audio` (missing, empty, undecodable, no audio).
    """
    import av  # PyAV

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        load_audio(path)  # raises the one-line error for a missing, empty or folder path
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                sidecar = find_sidecar(path)
                if sidecar is None:
                    raise AudioError(f"{path}: no audio stream, and no sidecar")
                return duration(sidecar)
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000  # microseconds (av.time_base)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: cannot decode ({exc.__class__.__name__}: {exc})") from None
    return load_audio(path).size / SAMPLE_RATE


def loop_pad(wave: np.ndarray, seconds: float = CLIP_SECONDS, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Repeat a short waveform until it lasts ``seconds``; cut a longer one (Speech2Face §3.1).

    Args:
        wave: (n,) float waveform, n >= 1.
    Returns:
        (round(seconds * sr),) array of the same dtype.
    Raises:
        ValueError: ``wave`` is empty or not one-dimensional.
    """
    wave = np.asarray(wave)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"loop_pad needs a non-empty 1-D waveform, got shape {wave.shape}")
    length = int(round(seconds * sr))
    reps = -(-length // wave.size)  # ceil division
    return np.tile(wave, reps)[:length]


def windows(
    wave: np.ndarray,
    seconds: float = CLIP_SECONDS,
    hop_seconds: float | None = None,
    sr: int = SAMPLE_RATE,
) -> np.ndarray:
    """Split a waveform into fixed-length windows.

    A waveform shorter than one window gives one loop-padded window. Otherwise windows
    start every ``hop_seconds`` (default: ``seconds``, no overlap) and a tail shorter than
    a window is dropped.

    Args:
        wave: (n,) waveform.
    Returns:
        (n_windows, round(seconds * sr)) array, n_windows >= 1.
    """
    wave = np.asarray(wave)
    length = int(round(seconds * sr))
    hop = length if hop_seconds is None else int(round(hop_seconds * sr))
    if hop <= 0:
        raise ValueError(f"hop_seconds must be positive, got {hop_seconds}")
    if wave.size < length:
        return loop_pad(wave, seconds, sr)[None]
    starts = range(0, wave.size - length + 1, hop)
    return np.stack([wave[s : s + length] for s in starts])


def window_batches(
    wave: np.ndarray, batch_size: int, seconds: float = CLIP_SECONDS, sr=SAMPLE_RATE
):
    """The windows of :func:`windows` (no overlap), ``batch_size`` at a time.

    Memory stays bounded by one batch however long ``wave`` is (a 20 min recording is 200
    windows of 6 s; all at once through the voice encoder would take gigabytes).

    Args:
        wave: (n,) waveform. batch_size: windows per yielded array (>= 1).
    Yields:
        (b, round(seconds * sr)) float arrays, b <= batch_size; together, :func:`windows`.
    """
    wave = np.asarray(wave)
    length = int(round(seconds * sr))
    if wave.size < length:
        yield loop_pad(wave, seconds, sr)[None]
        return
    count = wave.size // length
    for first in range(0, count, max(1, batch_size)):
        last = min(count, first + max(1, batch_size))
        yield wave[first * length : last * length].reshape(last - first, length)


def window_count(n_samples: int, seconds: float = CLIP_SECONDS, sr: int = SAMPLE_RATE) -> int:
    """How many windows :func:`windows` (no overlap) cuts from ``n_samples`` samples (>= 1)."""
    return max(1, n_samples // int(round(seconds * sr)))


def speech_fraction(wave: np.ndarray, level: float, frame_seconds: float = 0.05, sr=SAMPLE_RATE):
    """Share of ``frame_seconds`` frames whose RMS reaches ``level``: a level check, not a
    voice activity detector (steady noise counts as sound).

    Real speech recordings of the sample data give 0.6 to 1.0 with ``level`` 0.003 (the
    silence threshold of `prepare`); digital silence gives 0.

    Args:
        wave: (n,) float waveform in [-1, 1]. level: RMS threshold (full scale 1.0).
    Returns:
        A fraction in [0, 1] (a waveform shorter than one frame is one frame).
    """
    wave = np.asarray(wave, np.float32).reshape(-1)
    if wave.size == 0:
        return 0.0
    frame = min(wave.size, max(1, int(round(frame_seconds * sr))))
    n = wave.size // frame
    frames = wave[: n * frame].reshape(n, frame)
    loud = 0
    for i in range(0, n, 1024):  # blocks: bounded memory for hours of audio
        block = frames[i : i + 1024].astype(np.float64)
        loud += int(np.count_nonzero(np.mean(block**2, axis=1) >= level**2))
    return loud / n


def hann_window(length: int = WIN_LENGTH) -> np.ndarray:
    """Periodic Hann window (as ``tf.signal.hann_window(periodic=True)``), float64 (length,)."""
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


def frame_count(n_samples: int) -> int:
    """Number of STFT frames for ``n_samples`` without centring (598 for 96,000)."""
    return max(0, 1 + (n_samples - WIN_LENGTH) // HOP_LENGTH)


def compress(x: np.ndarray, power: float = POWER) -> np.ndarray:
    """Power-law compression sign(x) * |x| ** power, applied elementwise."""
    return np.sign(x) * np.abs(x) ** power


def stft(wave: np.ndarray) -> np.ndarray:
    """Complex STFT without centring: (..., n_samples) -> (..., n_frames, 257) complex128.

    Frames of WIN_LENGTH samples every HOP_LENGTH, periodic Hann window, zero-padded
    to N_FFT at the end, real FFT: the framing of ``tf.signal.stft(x, 400, 160, 512)``.
    """
    wave = np.asarray(wave, np.float64)
    n_frames = frame_count(wave.shape[-1])
    if n_frames == 0:
        raise ValueError(f"need at least {WIN_LENGTH} samples, got {wave.shape[-1]}")
    idx = np.arange(n_frames)[:, None] * HOP_LENGTH + np.arange(WIN_LENGTH)[None, :]
    frames = wave[..., idx] * hann_window()
    return np.fft.rfft(frames, n=N_FFT, axis=-1)


def spectrogram(wave: np.ndarray, power: float = POWER) -> np.ndarray:
    """Speech2Face input spectrogram (numpy reference, §3.1).

    Args:
        wave: (..., n_samples) float waveform at 16 kHz; 96,000 samples for a segment.
    Returns:
        (..., n_frames, 257, 2) float32: compressed real and imaginary parts;
        (598, 257, 2) for a 6 s segment.
    """
    spec = stft(wave)
    pair = np.stack([spec.real, spec.imag], axis=-1)
    return compress(pair, power).astype(np.float32)


def spectrogram_magnitude(spec: np.ndarray) -> np.ndarray:
    """Magnitude of the compressed (re, im) pair: (..., 2) -> (...), float32."""
    return np.sqrt(spec[..., 0] ** 2 + spec[..., 1] ** 2).astype(np.float32)


def rms(wave: np.ndarray) -> float:
    """Root mean square of a waveform (full scale = 1.0)."""
    wave = np.asarray(wave, np.float64)
    return float(np.sqrt(np.mean(wave**2))) if wave.size else 0.0
