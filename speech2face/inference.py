"""Speech2Face bundle: load once, predict a face from any voice recording.

>>> from speech2face import Speech2Face
>>> model = Speech2Face.load("runs/demo/bundle")
>>> image, feature = model.predict("voice.flac")   # (H, W, 3) uint8, (dim,) float32
"""

from __future__ import annotations

import os

import numpy as np

from speech2face import audio


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
    def load(cls, bundle: str | os.PathLike) -> Speech2Face:
        """Load a bundle folder.

        Raises:
            UserError: the folder is not a complete bundle.
        """
        from speech2face.bundle import load_bundle

        return cls(*load_bundle(bundle))

    def features(self, waves: np.ndarray) -> np.ndarray:
        """(N, 96000) float32 waveforms -> (N, dim) predicted face features."""
        return np.asarray(self.voice_encoder.predict_on_batch(np.asarray(waves, np.float32)))

    def voice_feature(self, wave: np.ndarray) -> np.ndarray:
        """Face feature of a waveform of any length: shorter than 6 s is loop-padded, longer
        is cut into 6 s windows whose predicted features are averaged. Returns (dim,)."""
        return self.features(audio.windows(np.asarray(wave, np.float32))).mean(0)

    def render(self, features: np.ndarray) -> np.ndarray:
        """(N, dim) features -> (N, S, S, 3) uint8 faces from the face decoder."""
        out = self.face_decoder.predict_on_batch(np.asarray(features, np.float32))
        return (np.clip(np.asarray(out["image"]), 0, 1) * 255 + 0.5).astype(np.uint8)

    def predict(self, voice) -> tuple[np.ndarray, np.ndarray]:
        """Predict a face from a path (any audio/video file) or a 16 kHz float waveform.

        Returns:
            (image (S, S, 3) uint8, feature (dim,) float32).
        Raises:
            AudioError: the file cannot give a waveform.
        """
        wave = audio.load_audio(voice) if isinstance(voice, str | os.PathLike) else voice
        feature = self.voice_feature(wave)
        return self.render(feature[None])[0], feature.astype(np.float32)
