"""Wav2Pix training speed on this machine: steps/s (one D step + one G step) at 64 and
128 px for the `small` preset (batch 16) and the `paper` preset (batch 64), and pairs/s.
Batches are random (speed only); the first step (compilation) is not timed.

Run: ``python benchmarks/bench_wav2pix.py [--steps N] [--skip-paper]``.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from speech2face.wav2pix.config import Wav2PixConfig
from speech2face.wav2pix.gan import GANTrainer
from speech2face.wav2pix.model import build_wav2pix, preset

IDENTITIES = 27  # the sample data's talking-face identities


def _batch(rng, n: int, size: int) -> dict:
    return {
        "audio": rng.normal(size=(n, 16000)).astype(np.float32) * 0.3,
        "real": rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32),
        "wrong": rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32),
        "label": rng.integers(0, IDENTITIES, n).astype(np.int32),
    }


def steps_per_second(preset_name: str, size: int, steps: int) -> tuple[float, int]:
    """(training steps/s, batch size) of a preset at ``size`` px."""
    keras.utils.set_random_seed(0)
    batch_size = preset(preset_name)["batch_size"]
    trainer = GANTrainer(*build_wav2pix(IDENTITIES, size, preset_name), Wav2PixConfig())
    rng = np.random.default_rng(0)
    batches = [_batch(rng, batch_size, size) for _ in range(2)]
    float(trainer.train_step(batches[0])["g_loss"])  # compile
    start = time.perf_counter()
    for i in range(steps):
        logs = trainer.train_step(batches[i % 2])
    float(logs["g_loss"])  # wait for the last step
    return steps / (time.perf_counter() - start), batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (small preset)")
    parser.add_argument("--skip-paper", action="store_true", help="only the small preset")
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}; one D step + one G step per training step")
    print(f"{'preset':8s} {'px':>4s} {'batch':>5s} {'steps/s':>8s} {'pairs/s':>8s}")
    for name in ("small",) + (() if args.skip_paper else ("paper",)):
        for size in (64, 128):
            steps = args.steps if name == "small" else max(2, args.steps // 10)
            rate, batch = steps_per_second(name, size, steps)
            print(f"{name:8s} {size:4d} {batch:5d} {rate:8.3f} {rate * batch:8.1f}", flush=True)


if __name__ == "__main__":
    main()
