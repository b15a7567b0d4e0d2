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
