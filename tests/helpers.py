"""Helpers shared by several test files."""

from __future__ import annotations

import os

import h5py
import numpy as np


def under_ci() -> bool:
    """True when $CI says this is a CI run (.ci/run sets CI=1): missing inputs fail, not skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# A VGG-Face small enough for a CPU test, in the published layer layout.
TINY_VGGFACE = dict(input_size=32, width=1 / 16, fc_units=32, classes=10)


def write_vggface_file(path, model, rng) -> dict:
    """Write random weights the way Keras 2 save_weights wrote keras-vggface's file.

    Returns:
        {(layer name, "kernel" | "bias"): the array written}.
    """
    truth = {}
    with h5py.File(path, "w") as f:
        names = [layer.name for layer in model.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for layer in model.layers:
            g = f.create_group(layer.name)
            weight_names = []
            for w, kind in zip(layer.get_weights(), ("kernel", "bias"), strict=False):
                wname = f"{layer.name}/{kind}:0"
                fan_in = np.prod(w.shape[:-1]) if kind == "kernel" else 1
                scale = np.sqrt(2.0 / fan_in) if kind == "kernel" else 0.01  # He-like, as trained
                value = (rng.standard_normal(w.shape) * scale).astype(np.float32)
                g.create_dataset(wname, data=value)
                weight_names.append(wname.encode())
                truth[(layer.name, kind)] = value
            g.attrs["weight_names"] = np.array(weight_names)
    return truth
