"""Cost of `prepare-faces` per face and the size of its cache, on real UTKFace photos.

Detect (dlib HOG), landmark, align, describe (dlib ResNet) and score N photos of
``utkface.csv`` into a fresh cache with 1 and with W workers; prints seconds per face,
faces per second, cache bytes per face, and the projection to the whole of UTKFace's
adults (18,910 photos after the age filter and the duplicates rule).

Run: ``python benchmarks/bench_face_cache.py [--data ../shared/data] [--faces 200]
[--workers 2]``. Under load (``uptime`` above the number of cores) the figures are slower.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

ADULT_ITEMS = 18_910  # UTKFace items after the age filter (>= 18) and the duplicates rule


def _subset(data: Path, n: int, folder: Path) -> Path:
    """A utkface.csv of ``n`` photos spread over the list, with copies of the photos."""
    with open(data / "utkface.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["age"]) >= 18 and not r["duplicate_group"]]
    rows = rows[:: max(1, len(rows) // n)][:n]
    (folder / "utkface").mkdir(parents=True)
    for r in rows:
        shutil.copy(data / "utkface" / r["file"], folder / "utkface" / r["file"])
    path = folder / "utkface.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--faces", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    from speech2face.speech2face.data.face_cache import FaceSourceConfig, prepare_faces

    with tempfile.TemporaryDirectory() as tmp:
        source = _subset(Path(args.data), args.faces, Path(tmp))
        for workers in sorted({1, args.workers}):
            out = Path(tmp) / f"cache{workers}"
            config = FaceSourceConfig(workers=workers, shard_size=max(1, args.faces // 8))
            start = time.perf_counter()
            info = prepare_faces(source, out, config)
            seconds = time.perf_counter() - start
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
            print(
                f"workers {workers}: {info['items']} photos, {info['faces']} faces in "
                f"{seconds:.1f} s = {seconds / info['items']:.3f} s a photo "
                f"({info['items'] / seconds:.1f} photos/s); cache {size / info['faces'] / 1024:.1f}"
                f" KiB a face; UTKFace's {ADULT_ITEMS:,} adults: "
                f"{ADULT_ITEMS * seconds / info['items'] / 60:.0f} min, "
                f"{ADULT_ITEMS * size / info['items'] / 2**20:.0f} MiB"
            )


if __name__ == "__main__":
    main()
