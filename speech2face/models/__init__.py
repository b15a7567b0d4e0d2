"""Keras models: Spectrogram layer, voice encoder, face decoder, warp, VGG-Face."""

from __future__ import annotations

import os
from pathlib import Path


def _register():
    from speech2face.models import face_decoder, spectrogram, voice_encoder  # noqa: F401


def load_model(path: str | os.PathLike, compile: bool = False):
    """``keras.models.load_model`` with this package's custom layers registered first."""
    import keras

    _register()
    return keras.models.load_model(path, compile=compile)


def save_parts(model, folder: str | os.PathLike, stem: str) -> None:
    """Save ``model`` as ``stem.json`` (architecture) + ``stem.weights.h5`` (weights).

    Loading these is several times faster than a ``.keras`` archive for large models
    (measured: 1.0 s against 6.1 s for the 165 M-parameter voice encoder), because the
    weights are read straight from HDF5 rather than through the zip archive.
    """
    import json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads(model.to_json())
    config.pop("compile_config", None)  # the architecture only: losses stay with training
    (folder / f"{stem}.json").write_text(json.dumps(config))
    model.save_weights(folder / f"{stem}.weights.h5")


def load_parts(folder: str | os.PathLike, stem: str):
    """Load a model written by :func:`save_parts`."""
    import keras

    _register()
    folder = Path(folder)
    model = keras.models.model_from_json((folder / f"{stem}.json").read_text())
    model.load_weights(folder / f"{stem}.weights.h5")
    return model
