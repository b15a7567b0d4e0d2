"""Pictures of results (matplotlib, Agg backend): spectrograms, face grids, recall curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_spectrogram(
    spec: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    hop_seconds: float = 0.01,
    sample_rate: int = 16000,
) -> Path:
    """Save a picture of a compressed spectrogram.

    Args:
        spec: (n_frames, 257, 2) compressed (re, im) pair from ``audio.spectrogram``; the
            magnitude of the pair is drawn, time on x (s), frequency on y (Hz).
        path: output image file (.png, .jpg, .pdf).
    Returns:
        The written path.
    """
    from speech2face.audio import spectrogram_magnitude

    plt = _pyplot()
    mag = spectrogram_magnitude(spec)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    extent = [0, mag.shape[0] * hop_seconds, 0, sample_rate / 2]
    im = ax.imshow(mag.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or "compressed spectrogram |(re, im)|, power 0.3")
    fig.colorbar(im, ax=ax, label="magnitude")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def face_grid(
    columns: dict[str, np.ndarray],
    path: str | os.PathLike,
    landmarks=None,
    row_labels=None,
    title: str = "",
) -> Path:
    """Save a grid of face images: one column per entry of ``columns``, one row per face.

    Args:
        columns: {title: (N, H, W, 3) images, uint8 or float in [0, 1]}.
        landmarks: optional {column title: (N, 68, 2) (x, y) pixel landmarks} drawn as dots.
        row_labels: optional N strings shown at the left of each row.
    Returns:
        The written path.
    """
    plt = _pyplot()
    names = list(columns)
    n = len(next(iter(columns.values())))
    fig, axes = plt.subplots(
        n, len(names), figsize=(2.0 * len(names), 2.0 * n + 0.4), squeeze=False
    )
    for j, name in enumerate(names):
        for i in range(n):
            ax = axes[i, j]
            img = np.asarray(columns[name][i])
            if img.dtype != np.uint8:
                img = np.clip(img, 0, 1)
            ax.imshow(img)
            if landmarks and name in landmarks:
                pts = np.asarray(landmarks[name][i])
                ax.scatter(pts[:, 0], pts[:, 1], s=2, c="lime")
                ax.set_xlim(-0.5, img.shape[1] - 0.5)
                ax.set_ylim(img.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[i])[:18], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
