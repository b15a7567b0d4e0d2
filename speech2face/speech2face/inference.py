"""Speech2Face bundle: load once, predict a face from any voice recording.

>>> from speech2face import Speech2Face
>>> model = Speech2Face.load("runs/demo/bundle")
>>> image, feature = model.predict("voice.flac")   # (H, W, 3) uint8, (dim,) float32
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np

from speech2face import audio
from speech2face.predict_files import Prediction, silence_note

log = logging.getLogger(__name__)

WINDOW_BATCH = 8  # 6 s windows per forward pass: memory stays bounded for any input length


class Speech2Face:
    """A trained voice encoder + face decoder (the folder written by `speech2face train`).

    Attributes:
        voice_encoder, face_decoder: Keras models. config: the bundle's ``bundle.json``.
    """

    def __init__(self, voice_encoder, face_decoder, config: dict):
        self.voice_encoder = voice_encoder
        self.face_decoder = face_decoder
        self.config = config

    @classmethod
    def load(cls, bundle: str | os.PathLike, verify: bool = True) -> Speech2Face:
        """Load a bundle folder.

        Args:
            verify: check each file against the sha256 in ``bundle.json`` before loading
                (False: sizes only; for a large bundle loaded often from trusted storage).
        Raises:
            UserError: the folder is not a complete bundle.
            DamagedFileError: a file is damaged or foreign (names it and what to do).
        """
        from speech2face.speech2face.bundle import load_bundle

        return cls(*load_bundle(bundle, verify))

    def features(self, waves: np.ndarray) -> np.ndarray:
        """(N, 96000) float32 waveforms -> (N, dim) predicted face features.

        Raises:
            ValueError: a sample is NaN or infinite (never passed to the model).
        """
        waves = np.asarray(waves, np.float32)
        if not np.isfinite(waves).all():
            raise ValueError("waveform has NaN or infinite samples")
        with np.errstate(over="ignore"):  # sigmoid of a large negative: 0, as it should be
            return np.asarray(self.voice_encoder.predict_on_batch(waves))

    def front_end(self, wave: np.ndarray) -> np.ndarray:
        """What a whole recording goes through before windowing: for a bundle on a speaker
        encoder with a VAD (``bundle.json`` "voice_front_end"), long silences are cut
        (:func:`speech2face.voices.ge2e.trim_long_silences`), as the encoder was trained;
        a recording with less than one second of detected speech is kept whole."""
        wave = np.asarray(wave, np.float32)
        if not self.config.get("voice_front_end", {}).get("vad"):
            return wave
        if not np.isfinite(wave).all():
            raise ValueError("waveform has NaN or infinite samples")
        from speech2face.voices import ge2e

        kept = ge2e.trim_long_silences(wave)
        return kept if kept.size >= audio.SAMPLE_RATE else wave

    def voice_feature(
        self,
        wave: np.ndarray,
        batch_size: int = WINDOW_BATCH,
        progress: Callable[[int, int], None] | None = None,
        front_end: bool = True,
    ) -> np.ndarray:
        """Face feature of a waveform of any length: shorter than 6 s is loop-padded, longer
        is cut into 6 s windows whose predicted features are averaged. Returns (dim,).
        The recording goes through :meth:`front_end` first (``front_end=False``: the caller
        applied it already).

        The windows go through the voice encoder ``batch_size`` at a time, so memory stays
        bounded however long the recording is; ``progress(done, total)`` is called after
        each batch with the windows done so far.

        Raises:
            ValueError: a sample is NaN or infinite.
        """
        wave = self.front_end(wave) if front_end else np.asarray(wave, np.float32)
        total, done, sums = audio.window_count(wave.size), 0, None
        for batch in audio.window_batches(wave, batch_size):
            part = self.features(batch).astype(np.float64).sum(0)
            sums = part if sums is None else sums + part
            done += len(batch)
            if progress is not None:
                progress(done, total)
        return (sums / done).astype(np.float32)

    def render(self, features: np.ndarray) -> np.ndarray:
        """(N, dim) features -> (N, S, S, 3) uint8 faces from the face decoder."""
        with np.errstate(over="ignore"):
            out = self.face_decoder.predict_on_batch(np.asarray(features, np.float32))
        return (np.clip(np.asarray(out["image"]), 0, 1) * 255 + 0.5).astype(np.uint8)

    def predict(self, voice) -> tuple[np.ndarray, np.ndarray]:
        """Predict a face from a path (any audio/video file) or a 16 kHz float waveform.

        A voice with no or little sound is predicted all the same, with a logged warning
        (:meth:`prediction` returns it as ``note``).

        Returns:
            (image (S, S, 3) uint8, feature (dim,) float32).
        Raises:
            AudioError: the file cannot give a waveform (names the file and the cause,
                NaN or infinite samples included).
            ValueError: a waveform given as an array has NaN or infinite samples.
        """
        result = self.prediction(voice)
        if result.note:
            log.warning("%s", result.note)
        return result.image, result.vector

    def prediction(
        self, voice, progress: Callable[[int, int], None] | None = None, name: str | None = None
    ) -> Prediction:
        """:meth:`predict` with the input's length, windows, speech fraction and a warning.

        Args:
            voice: a path (any audio/video file) or a (n,) 16 kHz float waveform.
            progress: ``progress(windows done, windows in all)``, see :meth:`voice_feature`.
            name: how the warning names the input (default: the path, or "the waveform").
        Returns:
            A :class:`Prediction` (the caller reports its ``note``).
        Raises:
            AudioError, ValueError: as :meth:`predict`.
        """
        is_path = isinstance(voice, str | os.PathLike)
        wave = audio.load_audio(voice) if is_path else np.asarray(voice, np.float32)
        name = name or (str(voice) if is_path else "the waveform")
        fraction = audio.speech_fraction(wave, audio.SILENCE_RMS)
        note = silence_note(name, fraction)
        feature = self.voice_feature(wave, progress=progress)
        return Prediction(
            self.render(feature[None])[0],
            feature,
            wave.size / audio.SAMPLE_RATE,
            audio.window_count(wave.size),
            fraction,
            note,
        )
