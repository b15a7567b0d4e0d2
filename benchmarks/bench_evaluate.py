"""Time and memory of the evaluation stages on synthetic features: SF2F disjoint-gallery
recall (galleries of 100), 1:2 / N-way voice-face matching over all pairs, and a bootstrap
interval over identities of the per-probe matching figure (1,000 resamples).

    python benchmarks/bench_evaluate.py [--sizes 1000,10000,100000] [--dim 128]

Sizes: 1,000 segments of 100 identities, 10,000 of 1,000 and 100,000 of 5,000. Features are
128-D: per-identity centres plus noise (true faces), predicted = true + noise; genders are
random per identity. Each stage runs once under tracemalloc (its peak of traced numpy and
Python allocations); max RSS is the process's high-water mark (getrusage) after the stage,
so it only grows. Cost growth: the time ratio between consecutive sizes and its exponent in
the number of segments (matching is quadratic: 100 x the segments, 10,000 x the time).
Goal: 100,000 segments of 5,000 identities in under 2 minutes in all and under 4 GB on a
2-core CPU.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
import tracemalloc
from functools import partial

import numpy as np

from speech2face.evaluation.intervals import bootstrap_interval
from speech2face.speech2face.evaluation.matching import voice_face_matching
from speech2face.speech2face.evaluation.sf2f_retrieval import disjoint_gallery_recall

SIZES = {1000: 100, 10000: 1000, 100000: 5000}  # segments: identities


def _data(n: int, n_ids: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(n) % n_ids)  # every identity has a segment
    centres = rng.normal(size=(n_ids, dim)).astype(np.float32)
    true = centres[ids] + 0.7 * rng.normal(size=(n, dim)).astype(np.float32)
    pred = true + 12.0 * rng.normal(size=(n, dim)).astype(np.float32)
    genders = rng.choice(np.array(["M", "F"]), size=n_ids)[ids]
    names = np.char.add("id", np.char.zfill(ids.astype(str), 5))
    return pred, true, names, genders


def _measure(fn):
    """(result, seconds, tracemalloc peak MB, max RSS MB) of one call."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return result, seconds, peak, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="segment counts, comma separated"
    )
    parser.add_argument("--dim", type=int, default=128, help="feature dimension")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}: use some of {list(SIZES)}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, {args.dim}-D features")
    header = f"{'segments':>9s} {'ids':>6s} {'stage':24s} {'s':>8s} {'peak MB':>9s} {'RSS MB':>8s}"
    print(header)
    times: dict[str, dict[int, float]] = {}
    for n in sizes:
        pred, true, ids, genders = _data(n, SIZES[n], args.dim)
        total = 0.0
        rows = []
        rec, *row = _measure(partial(disjoint_gallery_recall, pred, true, ids))
        rows.append(("sf2f recall (100)", *row))
        match, *row = _measure(partial(voice_face_matching, pred, true, ids, genders))
        rows.append(("matching 1:2, N-way", *row))
        boot, *row = _measure(partial(bootstrap_interval, match["per_probe"], ids))
        rows.append(("bootstrap (1,000)", *row))
        for name, seconds, peak, rss in rows:
            times.setdefault(name, {})[n] = seconds
            total += seconds
            print(f"{n:9,d} {SIZES[n]:6,d} {name:24s} {seconds:8.3f} {peak:9.1f} {rss:8.0f}")
        print(
            f"{'':17s}recall@1/10 {rec['recall']['1']:.3f}/{rec['recall']['10']:.3f} "
            f"({rec['galleries']} galleries); 1:2 {match['accuracy']:.3f} "
            f"[{boot['low']:.3f}, {boot['high']:.3f}] over {match['pairs']:,} pairs, "
            f"gender-matched {match['gender_matched_accuracy']:.3f}, "
            f"10-way {match['n_way']['10']:.3f}; all stages {total:.1f} s"
        )
    if len(sizes) > 1:
        print(
            "\ncost growth (time ratio between sizes, and exponent in segments; the bootstrap"
            " grows with identities)"
        )
        for name, by_size in times.items():
            cells = []
            for a, b in zip(sizes, sizes[1:], strict=False):
                ratio = by_size[b] / by_size[a]
                cells.append(
                    f"{a:,}->{b:,} (ids x{SIZES[b] / SIZES[a]:.0f}): x{ratio:.1f} "
                    f"(N^{math.log(ratio) / math.log(b / a):.2f})"
                )
            print(f"  {name:24s} " + "; ".join(cells))
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nmax RSS {peak_rss:.0f} MB; load average {os.getloadavg()[0]:.2f} after the runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
