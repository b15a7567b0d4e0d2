"""Face decoder training time per preset on this machine: seconds per step at batch 16 (the
texture L1 weighted by the face mask + landmark MSE, as `train-decoder`), one picture grid,
and the render (warp + mask) of a batch; then the projected fit time of the demo's decoder
(its number of faces and epochs). Weights and data are random (speed only).

Run: ``python benchmarks/bench_decoder.py [--presets small small128 paper] [--faces 88]
[--epochs 150]``. Under load (``uptime`` above the number of cores) the figures are slower.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from speech2face.speech2face.evaluation.report import face_grid
from speech2face.speech2face.models.face_decoder import PRESETS, build_face_decoder, face_mask
from speech2face.speech2face.training.decoder import GRID_ROWS
from speech2face.speech2face.training.losses import masked_l1

BATCH = 16


def _mean_landmarks() -> np.ndarray:
    """Landmarks spread over the middle of the image, as a face's (speed only)."""
    return np.random.default_rng(0).uniform(0.2, 0.8, (68, 2)).astype(np.float32)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench(preset: str, steps: int) -> dict:
    """Seconds per training step, per grid and per rendered batch for one preset."""
    mean = _mean_landmarks()
    keras.utils.set_random_seed(0)
    decoder = build_face_decoder(128, mean, preset)
    size = PRESETS[preset]["image_size"]
    trainer = keras.Model(
        decoder.input,
        {"texture": decoder.get_layer("texture").output, "landmarks": decoder.output["landmarks"]},
    )
    trainer.compile(
        keras.optimizers.Adam(1e-3),
        loss={"texture": masked_l1(face_mask(mean, size)), "landmarks": "mse"},
        loss_weights={"texture": 1.0, "landmarks": 100.0},
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 128)).astype(np.float32)
    y = {
        "texture": rng.uniform(size=(BATCH, size, size, 3)).astype(np.float32),
        "landmarks": np.broadcast_to(mean, (BATCH, 68, 2)).astype(np.float32),
    }
    trainer.train_on_batch(x, y)  # compile
    step = _median_time(lambda: trainer.train_on_batch(x, y), steps)
    decoder.predict(x, verbose=0)
    render = _median_time(lambda: decoder.predict(x, verbose=0, batch_size=BATCH), 3)
    with tempfile.TemporaryDirectory() as tmp:
        images = rng.uniform(size=(GRID_ROWS, size, size, 3))

        def grid():
            pred = decoder.predict(x[:GRID_ROWS], verbose=0)
            face_grid(
                {"a": images, "b": images, "c": images, "d": pred["texture"], "e": pred["image"]},
                Path(tmp) / "grid.png",
                landmarks={"d": pred["landmarks"] * size},
            )

        grid_s = _median_time(grid, 3)
    return {"step_s": step, "render_s": render, "grid_s": grid_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["small", "small128"])
    parser.add_argument("--faces", type=int, default=88, help="training faces (demo: 88)")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--grid-every", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; batch {BATCH}")
    steps_per_epoch = -(-args.faces // BATCH)
    grids = args.epochs // args.grid_every + 1
    for preset in args.presets:
        r = bench(preset, args.steps)
        fit = r["step_s"] * steps_per_epoch * args.epochs + r["grid_s"] * grids
        size = PRESETS[preset]["image_size"]
        print(
            f"{preset:9s} {size:3d} px: {r['step_s'] * 1000:6.0f} ms/step, "
            f"render {r['render_s'] / BATCH * 1000:5.1f} ms/face, grid {r['grid_s']:.2f} s; "
            f"{args.epochs} epochs of {args.faces} faces + {grids} grids: {fit / 60:.1f} min"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
