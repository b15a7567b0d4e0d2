"""Cold `speech2face predict VOICE -o OUT` with the shipped model: wall seconds per run,
everything included (Python start, imports, the sha256 checks, model load, VAD, GE2E,
decoder, PNG write), as a user types it after `pip install -e .`; the goal is <= 10 s.

Run: ``python benchmarks/bench_default_predict.py [--voice FILE] [--runs 3]`` (default
voice: a test clip of the sample data). Under load (``uptime`` above the number of cores)
the figures are slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speech2face.samples import local_samples


def _default_voice() -> Path:
    root = local_samples()  # UserError when there is none: pass --voice FILE
    from speech2face.dataset.sources.folder import manifest_clips

    clip = next(c for c in manifest_clips(root / "manifest.csv") if c.split == "test")
    return Path(clip.sidecar or clip.media)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--voice", type=Path)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    voice = args.voice or _default_voice()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    times = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "speech2face", "predict", str(voice), "-o", out],
                check=True,
                env=env,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
            assert any(Path(out).glob("*.png")), "no face written"
        print(f"run {i + 1}: {times[-1]:.2f} s")
    print(
        f"cold `speech2face predict {voice.name} -o OUT` (shipped model): median "
        f"{statistics.median(times):.2f} s over {len(times)} runs (goal <= 10 s)"
    )


if __name__ == "__main__":
    main()
