"""Exact resume: weights with optimizer state and the epoch counter, saved atomically.

Training runs as Keras "epochs" of a fixed number of steps, so a checkpoint at every epoch
end is a checkpoint every N steps; the data order is a function of the global step, so a
resumed run continues with exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

WEIGHTS = "checkpoint.weights.h5"
STATE = "checkpoint.json"


class Checkpoint(keras.callbacks.Callback):
    """Save ``model`` weights (optimizer included) and ``{"epoch": e}`` after every epoch.

    Args:
        folder: where ``checkpoint.weights.h5`` and ``checkpoint.json`` go.
        extra: optional callable(epoch) run after each save (pictures, exports).
    """

    def __init__(self, folder: str | os.PathLike, extra=None):
        super().__init__()
        self.folder = Path(folder)
        self.extra = extra

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / ("tmp." + WEIGHTS)
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.folder / WEIGHTS)
        state = {
            "epoch": epoch + 1,
            "step": int(self.model.optimizer.iterations.numpy()),
            "logs": {k: float(v) for k, v in (logs or {}).items()},
        }
        tmp = self.folder / ("tmp." + STATE)
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.folder / STATE)
        if self.extra is not None:
            self.extra(epoch)


def restore(model: keras.Model, folder: str | os.PathLike) -> int:
    """Load the last checkpoint into a compiled, built ``model``.

    Returns:
        The number of epochs already done (0 when there is no checkpoint).
    """
    folder = Path(folder)
    if not (folder / STATE).is_file() or not (folder / WEIGHTS).is_file():
        return 0
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(folder / WEIGHTS)
    return int(json.loads((folder / STATE).read_text())["epoch"])
