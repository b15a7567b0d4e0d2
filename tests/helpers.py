"""Helpers shared by several test files."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

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


def face_landmarks(mouth_gap: float = 0.0, eye_aspect: float = 0.3, size: float = 224.0):
    """A frontal face's 68 landmarks (iBUG order) drawn from ellipses, in an aligned crop.

    Eyes at (0.34, 0.40) and (0.66, 0.40) of the crop, mouth centre at (0.50, 0.74), as the
    alignment template. ``mouth_gap``: inner-lip gap in outer inter-ocular distances;
    ``eye_aspect``: the eyes' aspect ratio (lid distance over eye width).

    Returns:
        (68, 2) float32 (x, y) pixels.
    """
    s = size
    p = np.zeros((68, 2))
    t = np.linspace(np.pi, 0, 17)  # jaw: lower half of an ellipse, image left to right
    p[0:17] = np.c_[0.5 * s + 0.36 * s * np.cos(t), 0.45 * s + 0.5 * s * np.sin(t)]
    for first, cx in ((17, 0.34), (22, 0.66)):  # brows
        x = np.linspace(cx - 0.1, cx + 0.1, 5)
        p[first : first + 5] = np.c_[x * s, (0.31 - 0.02 * np.cos((x - cx) * 15)) * s]
    p[27:31] = np.c_[np.full(4, 0.5 * s), np.linspace(0.38, 0.52, 4) * s]  # nose bridge
    p[31:36] = np.c_[np.linspace(0.45, 0.55, 5) * s, np.array([0.58, 0.59, 0.6, 0.59, 0.58]) * s]
    span = 0.42 * s  # outer eye corners 36 and 45
    for first, cx, sign in ((36, 0.34, 1), (42, 0.66, -1)):
        w = 0.1 * s  # corner to corner
        h = eye_aspect * w / 2
        x0 = cx * s - sign * w / 2  # outer corner for the image-left eye, inner for the other
        xs = [x0, x0 + sign * w / 3, x0 + sign * 2 * w / 3, x0 + sign * w]
        eye = [(xs[0], 0), (xs[1], -h), (xs[2], -h), (xs[3], 0), (xs[2], h), (xs[1], h)]
        if sign < 0:  # 42 is the inner corner: same points, listed from the inner corner
            eye = [(xs[3], 0), (xs[2], -h), (xs[1], -h), (xs[0], 0), (xs[1], h), (xs[2], h)]
        p[first : first + 6] = np.array(eye) + (0, 0.40 * s)
    cy, gap = 0.74 * s, mouth_gap * span

    def arc(angles, half_width, height, y):  # points left to right; height > 0 goes down
        return np.c_[0.5 * s + half_width * s * np.cos(angles), y + height * s * np.sin(angles)]

    a = np.linspace(np.pi, 0, 7)  # outer lips: 48 corner, 49-53 upper, 54 corner, 55-59 lower
    p[48:55] = arc(a, 0.126, -0.035, cy - gap / 2)
    p[55:60] = arc(a[1:6], 0.126, 0.04, cy + gap / 2)[::-1]  # right to left
    i = np.linspace(np.pi, 0, 5)  # inner lips: 60 corner, 61-63 upper, 64 corner, 65-67 lower
    p[60:65] = arc(i, 0.1, 0.0, cy - gap / 2)
    p[65:68] = arc(i[1:4], 0.1, 0.0, cy + gap / 2)[::-1]
    p[[5, 6, 7, 8, 9, 10, 11]] += (0, gap)  # an open mouth drops the chin
    return p.astype(np.float32)


UTKFACE_COLUMNS = ["file", "age", "gender", "race", "split", "duplicate_group", "label_conflict"]


def utkface_subset(folder, data_dir, rows, extra=()) -> Path:
    """``folder/utkface.csv`` + ``folder/utkface/`` with copies of the photos of ``rows``
    (rows of the sample data's utkface.csv); ``extra`` rows are listed without copies."""
    folder = Path(folder)
    (folder / "utkface").mkdir(parents=True, exist_ok=True)
    for r in rows:
        shutil.copy(Path(data_dir) / "utkface" / r["file"], folder / "utkface" / r["file"])
    path = folder / "utkface.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, UTKFACE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows([*rows, *extra])
    return path
