"""Exact resume: weights with optimizer state and the epoch counter, saved atomically.

Training runs as Keras "epochs" of a fixed number of steps, so a checkpoint at every epoch
end is a checkpoint every N steps; the data order is a function of the global step, so a
resumed run continues with exactly the batches it would have seen.

Each save writes ``checkpoint-EEEEE.weights.h5`` (epoch number), then ``checkpoint.json``
naming it with its size and sha256, then removes the older weights: a run killed at any
moment leaves a state file that names complete weights, and :func:`restore` checks them
against the record before loading (a damaged checkpoint is a one-line error, never a
traceback or a silently wrong resume).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from speech2face import integrity

WEIGHTS = "checkpoint.weights.h5"  # the weights file of checkpoints written before the records
STATE = "checkpoint.json"


def _weights_name(epoch: int) -> str:
    return f"checkpoint-{epoch:05d}.weights.h5"


def remedy(folder: str | os.PathLike) -> str:
    """What to do about a damaged checkpoint (the end of the one-line error)."""
    return f"delete the folder {folder} to start this run again from step 0"


class Checkpoint(keras.callbacks.Callback):
    """Save ``model`` weights (optimizer included) and ``{"epoch": e}`` after every epoch.

    Args:
        folder: where ``checkpoint-EEEEE.weights.h5`` and ``checkpoint.json`` go.
        extra: optional callable(epoch) run after each save (pictures, exports).
    """

    def __init__(self, folder: str | os.PathLike, extra=None):
        super().__init__()
        self.folder = Path(folder)
        self.extra = extra

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        name = _weights_name(epoch + 1)
        tmp = self.folder / ("tmp." + name)
        variables = self.model.weights + list(self.model.optimizer.variables)
        integrity.ensure_space(self.folder, variables, tmp.name)
        try:
            self.model.save_weights(tmp, overwrite=True)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk-full write leaves no partial file behind
            raise
        os.replace(tmp, self.folder / name)
        state = {
            "epoch": epoch + 1,
            "step": int(self.model.optimizer.iterations.numpy()),
            "logs": {k: float(v) for k, v in (logs or {}).items()},
            "weights": name,
            "files": integrity.records(self.folder, [name]),
        }
        tmp = self.folder / ("tmp." + STATE)
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.folder / STATE)
        for old in self.folder.glob("checkpoint*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)
        if self.extra is not None:
            self.extra(epoch)


def restore(model: keras.Model, folder: str | os.PathLike) -> int:
    """Load the last checkpoint into a compiled, built ``model``.

    Returns:
        The number of epochs already done (0 when there is no checkpoint).
    Raises:
        DamagedFileError: ``checkpoint.json`` is unreadable, or the weights it names are
            missing, differ from their recorded size and sha256, or do not fit ``model``.
    """
    folder = Path(folder)
    if not (folder / STATE).is_file():
        return 0
    with integrity.reading(folder / STATE, remedy(folder), "checkpoint state"):
        state = json.loads((folder / STATE).read_text())
        epoch = int(state["epoch"])
        name = str(state.get("weights", WEIGHTS))
        if Path(name).name != name:
            raise ValueError(f"names a file outside its folder: {name!r}")
    if "weights" not in state and not (folder / WEIGHTS).is_file():
        return 0  # an old-style state file whose weights were never written
    integrity.check_all(folder, state.get("files", {name: None}), remedy(folder), what="checkpoint")
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    with integrity.reading(folder / name, remedy(folder), "checkpoint"):
        model.load_weights(folder / name)
    return epoch
