"""Keras models: Spectrogram layer, voice encoder, face decoder, warp, VGG-Face."""

from __future__ import annotations

import os


def load_model(path: str | os.PathLike, compile: bool = False):
    """``keras.models.load_model`` with this package's custom layers registered first."""
    import keras

    from speech2face.models import face_decoder, spectrogram, voice_encoder  # noqa: F401

    return keras.models.load_model(path, compile=compile)
