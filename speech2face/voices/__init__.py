"""Pretrained speaker encoders: a voice prior learned from thousands of speakers.

Eighteen training identities cannot teach a voice encoder what a voice says about a face;
a speaker encoder trained for verification on thousands of speakers already orders voices
by gender, age and timbre. Training (`train --voice-encoder NAME`) puts a small head on
its embedding (:mod:`speech2face.speech2face.training.speaker_head`).

A speaker encoder is anything with this interface (:class:`SpeakerEncoder`):

    name          str, recorded in bundle.json
    dim           embedding size
    vad           True when recordings should be trimmed of long silences before windowing
    window_model(n_samples, trainable=False) -> keras.Model  (B, n_samples) 16 kHz -> (B, dim)

Only GE2E ships (:mod:`speech2face.voices.ge2e`). Plug in another one (a Keras port of
ECAPA-TDNN, your own weights) without touching training:

    from speech2face import voices
    voices.register("ecapa", lambda weights: MyEncoder(weights))
    speech2face.train(..., voice_encoder="ecapa", speaker_weights="ecapa.weights.h5")

or give a saved Keras model that maps (B, samples) waveforms to (B, dim) embeddings as
``voice_encoder="path/to/model.keras"`` (loaded in Keras's safe mode).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from speech2face.errors import UserError

PAPER = "paper"  # not a speaker encoder: the Table 1 CNN trained from the waveform


class SpeakerEncoder(ABC):
    """Base class of a pretrained speaker encoder (see the module docstring).

    Attributes:
        name: registry name. dim: embedding size. vad: trim silences before windowing.
    """

    name = "speaker_encoder"
    dim = 0
    vad = False

    @abstractmethod
    def window_model(self, n_samples: int, trainable: bool = False):
        """Keras model (B, n_samples) float32 16 kHz waveform -> (B, dim) embedding."""

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        """What a whole recording goes through before it is cut into windows."""
        return np.asarray(wave, np.float32)


class GE2E(SpeakerEncoder):
    """Resemblyzer's GE2E (:mod:`speech2face.voices.ge2e`), weights shipped in the package."""

    name = "ge2e"
    vad = True

    def __init__(self, weights: str | Path | None = None):
        from speech2face.voices import ge2e

        self.weights = weights
        self.dim = ge2e.DIM

    def window_model(self, n_samples: int, trainable: bool = False):
        from speech2face.voices import ge2e

        return ge2e.build_window_encoder(n_samples, self.weights, trainable)

    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        from speech2face.voices import ge2e

        return ge2e.trim_long_silences(np.asarray(wave, np.float32))


class KerasFile(SpeakerEncoder):
    """A user's saved Keras model (``.keras``) as a speaker encoder: (B, n) -> (B, dim).

    Raises:
        UserError: the file cannot be loaded or does not map waveforms to vectors.
    """

    def __init__(self, path: str | Path):
        from speech2face.models import load_model

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"{self.path}: no such speaker-encoder model file")
        self.model = load_model(self.path, remedy="give a .keras model of (B, samples) -> (B, dim)")
        shape = self.model.output.shape
        if len(self.model.input.shape) != 2 or len(shape) != 2:
            raise UserError(f"{self.path}: a speaker encoder maps (B, samples) to (B, dim)")
        self.name, self.dim = self.path.stem, int(shape[-1])

    def window_model(self, n_samples: int, trainable: bool = False):
        import keras

        wave = keras.Input((n_samples,), name="waveform")
        self.model.trainable = trainable
        return keras.Model(wave, self.model(wave), name=self.name)


_REGISTRY: dict[str, Callable] = {"ge2e": GE2E}


def register(name: str, factory: Callable) -> None:
    """Make ``factory(weights)`` -> :class:`SpeakerEncoder` available as ``name``."""
    if name == PAPER:
        raise ValueError(f"{PAPER!r} is the paper's CNN, not a speaker-encoder name")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """Registered speaker-encoder names (``ge2e`` and any plugged in)."""
    return sorted(_REGISTRY)


def get(name: str, weights: str | Path | None = None) -> SpeakerEncoder:
    """The speaker encoder called ``name`` (or a ``.keras`` model path), with ``weights``.

    Raises:
        UserError: an unknown name (lists the known ones).
    """
    if name.endswith(".keras"):
        return KerasFile(name)
    if name not in _REGISTRY:
        raise UserError(
            f"unknown voice encoder {name!r}: use {PAPER}, one of {', '.join(names())}, or a "
            ".keras model file"
        )
    return _REGISTRY[name](weights)


def embed_windows(model, waves: np.ndarray, batch_size: int = 16, progress: bool = False):
    """(N, n) waveforms -> (N, dim) float32 embeddings through a window model, in batches."""
    from tqdm import tqdm

    starts = range(0, len(waves), batch_size)
    if progress:
        starts = tqdm(starts, desc="speaker embeddings", unit="batch", leave=False)
    parts = [np.asarray(model.predict_on_batch(waves[i : i + batch_size])) for i in starts]
    return np.concatenate(parts) if parts else np.zeros((0, model.output.shape[-1]), np.float32)
