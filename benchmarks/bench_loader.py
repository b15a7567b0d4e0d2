"""Input pipeline: bytes per segment, decode cost, segments/s for voice and decoder training,
and what that means for VoxCeleb2.

    python benchmarks/bench_loader.py [--data DATASET] [--steps 200]

DATASET (default: runs/demo/dataset, else the sample clips are prepared into a temporary
folder) is rewritten in format 1 (int16 audio, gzip face arrays: the format before) and in
format 2 (blosc or FLAC audio, JPEG or PNG faces), then read with :class:`SegmentBatches` the way
training reads it: voice training = audio (decoded to float32, augmented) + feature, batch
8; decoder training = face + landmarks + feature, batch 16; with 0 (in the calling thread),
1 and 2 reader threads and 2 reader processes (grain). The files are in the page cache
(a small dataset read for many epochs), so the figures are decoding and reading cost, not
disk speed. CPU ms per segment (process time of the reading process and its threads; with
reader processes, of the main process only) does not depend on the load of the machine;
segments/s does: the load average is printed.

Projection (VoxCeleb2, 1.1 M segments; the paper's encoder at ~700 segments/s per GPU, 8
GPUs need ~5,600 segments/s): disk = segments x bytes/segment; minutes per epoch at the
measured rate; cores to feed 8 GPUs = 5,600 x CPU seconds per segment.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from speech2face.dataset import shards
from speech2face.speech2face.data.batches import SegmentBatches
from speech2face.speech2face.data.build import convert
from speech2face.speech2face.data.reader import Dataset

VOX2_SEGMENTS = 1_100_000
GPU_RATE = 700  # segments/s one H100 trains the paper's voice encoder on (issue 15 estimate)
GPUS = 8
VOICE = {"fields": ("audio", "feature"), "batch_size": 8, "augment": True}
DECODER = {"fields": ("face", "landmarks", "feature"), "batch_size": 16}


def _source_dataset(arg: str | None, tmp: Path) -> Path:
    if arg:
        return Path(arg)
    if (Path("runs/demo/dataset") / shards.MANIFEST).is_file():
        return Path("runs/demo/dataset")
    from speech2face.dataset.sources import folder
    from speech2face.samples import local_samples
    from speech2face.speech2face.data.build import PrepareConfig, prepare

    out = tmp / "prepared"
    prepare(folder.manifest_clips(local_samples() / "manifest.csv"), out, PrepareConfig(workers=2))
    return out


def _bytes_per_segment(root: Path) -> float:
    ds = Dataset(root)
    size = sum(p.stat().st_size for p in ds.shards)
    return size / len(ds.index())


def _decode_costs(root: Path, repeat: int = 3) -> dict[str, float]:
    """CPU ms to decode one stored audio / face of a format-2 dataset, and its bytes."""
    import h5py

    ds = Dataset(root)
    with h5py.File(ds.shards[0], "r") as f:
        audio = [f["audio"][i] for i in range(f["audio"].shape[0])]
        faces = [f["face"][i] for i in range(f["face"].shape[0])]
        codecs = shards.codecs(f)
    out = {}
    for name, items, fn in (
        ("audio", audio, lambda x: shards.audio_samples(x, codecs["audio"])),
        ("face", faces, shards.image_pixels),
    ):
        start = time.process_time()
        for _ in range(repeat):
            for item in items:
                fn(item)
        out[f"{name}_ms"] = 1e3 * (time.process_time() - start) / (repeat * len(items))
        out[f"{name}_kb"] = np.mean([len(x) for x in items]) / 1e3
    return out


def _rate(root: Path, kind: dict, steps: int, workers: int, processes: int = 0) -> tuple:
    """(segments/s, CPU ms per segment in this process) reading ``steps`` batches."""
    batches = SegmentBatches(Dataset(root), "train", seed=0, **kind)
    it = batches.stream(0, steps + 2, workers=workers, prefetch=8, processes=processes)
    next(it), next(it)  # start-up (threads, worker processes, first files) not counted
    cpu, wall = time.process_time(), time.perf_counter()
    n = sum(len(b["feature"]) for b in it)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, 1e3 * cpu / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a dataset folder (any format)")
    parser.add_argument("--steps", type=int, default=200, help="batches per measurement")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = _source_dataset(args.data, tmp)
        variants = {
            "format 1 (int16, gzip)": convert(source, tmp / "f1", shard_format=1) and tmp / "f1",
            "format 2 (blosc, JPEG)": convert(source, tmp / "jpeg", "jpeg") and tmp / "jpeg",
            "format 2 (blosc, PNG)": convert(source, tmp / "png", "png") and tmp / "png",
            "format 2 (FLAC, JPEG)": convert(source, tmp / "flac", audio_codec="flac")
            and tmp / "flac",
        }
        n = len(Dataset(source).index("train"))
        print(f"dataset {source}: {len(Dataset(source).index())} segments ({n} train)\n")
        print(f"{'':24s} {'KB/segment':>10s}")
        sizes = {}
        for name, root in variants.items():
            sizes[name] = _bytes_per_segment(root)
            print(f"{name:24s} {sizes[name] / 1e3:10.1f}")
        for name in ("format 2 (blosc, JPEG)", "format 2 (blosc, PNG)", "format 2 (FLAC, JPEG)"):
            cost = _decode_costs(variants[name])
            audio, face = name[10:-1].split(", ")
            print(
                f"decode, CPU ms/segment: {audio} audio {cost['audio_ms']:.3f} "
                f"({cost['audio_kb']:.0f} KB), {face} face {cost['face_ms']:.3f} "
                f"({cost['face_kb']:.0f} KB)"
            )
        compared = ("format 1 (int16, gzip)", "format 2 (blosc, JPEG)", "format 2 (FLAC, JPEG)")
        print(
            f"\n{'segments/s (CPU ms/segment)':30s} {'readers':>11s} {'format 1':>16s} "
            f"{'2: blosc, JPEG':>16s} {'2: FLAC, JPEG':>16s}"
        )
        rates = {}
        for task, kind in (("voice training", VOICE), ("decoder training", DECODER)):
            for label, workers, procs in (
                ("0", 0, 0),
                ("1 thread", 1, 0),
                ("2 threads", 2, 0),
                ("2 processes", 1, 2),
            ):
                cells = []
                for name in compared:
                    rate, cpu = _rate(variants[name], kind, args.steps, workers, procs)
                    rates[(task, label, name)] = (rate, cpu)
                    cells.append(f"{rate:7.0f} ({cpu:5.2f})")
                print(f"{task:30s} {label:>11s} " + " ".join(f"{c:>16s}" for c in cells))
        print(f"load average {os.getloadavg()[0]:.2f} after the runs")

        name = "format 2 (blosc, JPEG)"
        best = max(rates[("voice training", k, name)][0] for k in ("2 threads", "2 processes"))
        cpu1 = rates[("voice training", "0", name)][1] / 1e3  # s per segment, one thread
        need = GPU_RATE * GPUS
        print(f"\nVoxCeleb2 projection ({VOX2_SEGMENTS:,} segments, {name}):")
        print(
            f"  disk: {VOX2_SEGMENTS * sizes[name] / 1e9:.0f} GB "
            f"(format 1: {VOX2_SEGMENTS * sizes['format 1 (int16, gzip)'] / 1e9:.0f} GB)"
        )
        print(
            f"  one epoch of voice training at this machine's {best:.0f} segments/s: "
            f"{VOX2_SEGMENTS / best / 60:.0f} min; at {GPUS} GPUs x {GPU_RATE}/s: "
            f"{VOX2_SEGMENTS / need / 60:.1f} min"
        )
        cores = need * cpu1
        print(
            f"  to feed {GPUS} GPUs ({need:,} segments/s) at {cpu1 * 1e3:.2f} CPU ms/segment: "
            f"{cores:.1f} cores of reading, i.e. {math.ceil(cores / 16)} host(s) with 16 "
            f"cores to spare ({math.ceil(cores / 8)} with 8)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
