"""Wav2Pix pair datasets on disk: the pairs of :func:`speech2face.wav2pix.pairs.clip_pairs`
in HDF5 shards, built in parallel and resumed, with their manifest.

Storage: the Speech2Face dataset's design (atomic shards of a fixed group of clips, a
manifest rebuilt from the shards, resume by skipping finished shards, a process pool), in
its own folder with its own manifest ``pairs.json``. Pairs are not derived from the
Speech2Face segments because those keep one aligned 224 px face per 6 s (here: unaligned
crops, several frames a second, audio around each frame).

Shard layout (per face row f, per pair row p):
``face`` uint8 (F, S, S, 3); ``face_box`` float32 (F, 4) detection box (left, top, right,
bottom) in source pixels; ``face_time`` float64 (F,) seconds in the media; strings
``face_identity``, ``face_split``, ``face_clip``, ``face_gender`` (F,);
``audio`` int16 (P, 16000); ``pair_face`` int32 (P,) face row of the pair;
``audio_start`` float64 (P,) seconds in the media. Attributes ``clips`` (JSON keys of the
clips covered), ``failures`` (JSON [clip, stage, reason]), ``config`` (JSON).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import audio
from speech2face.dataset.engines import unfinished_groups
from speech2face.dataset.shards import FAILURES, SHARD_DIR, sha256
from speech2face.dataset.sources import Clip
from speech2face.errors import UserError
from speech2face.wav2pix.config import PRE_EMPHASIS, WINDOW, PairConfig
from speech2face.wav2pix.pairs import clip_pairs

log = logging.getLogger(__name__)

MANIFEST = "pairs.json"  # beside the shards folder (FAILURES and SHARD_DIR as a dataset)


def write_pair_shard(
    path: str | os.PathLike,
    found: list[dict],
    pairs: list[dict],
    clips: list[str],
    failures: list[tuple],
    config: PairConfig,
) -> Path:
    """Write faces and pairs to ``path`` atomically (``path.tmp`` renamed when complete)."""
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    s = config.image_size
    with h5py.File(tmp, "w") as f:
        face = np.stack([x["face"] for x in found]) if found else np.zeros((0, s, s, 3), np.uint8)
        f.create_dataset("face", data=face, **({"compression": "gzip"} if found else {}))
        f.create_dataset("face_box", data=np.array([x["box"] for x in found], np.float32))
        f.create_dataset("face_time", data=np.array([x["time"] for x in found], np.float64))
        for name in ("identity", "split", "clip", "gender"):
            f.create_dataset(
                "face_" + name,
                data=[x[name] for x in found],
                dtype=h5py.string_dtype(),
                shape=(len(found),),
            )
        wave = np.stack([p["audio"] for p in pairs]) if pairs else np.zeros((0, WINDOW), np.int16)
        f.create_dataset("audio", data=wave)
        f.create_dataset("pair_face", data=np.array([p["face"] for p in pairs], np.int32))
        f.create_dataset("audio_start", data=np.array([p["start"] for p in pairs], np.float64))
        f.attrs["clips"] = json.dumps(clips)
        f.attrs["failures"] = json.dumps([list(x) for x in failures])
        f.attrs["config"] = json.dumps(asdict(config))
    os.replace(tmp, path)
    return path


def pair_shard_info(path: str | os.PathLike) -> dict:
    """Summary of a pair shard: clips, failures, config, and per face row its identity,
    split and gender, and per pair row its face row.

    Raises:
        OSError, KeyError: not a readable pair shard.
    """
    import h5py

    with h5py.File(path, "r") as f:
        return {
            "clips": json.loads(f.attrs["clips"]),
            "failures": [tuple(x) for x in json.loads(f.attrs["failures"])],
            "config": json.loads(f.attrs["config"]),
            "identity": [x.decode() for x in f["face_identity"][:]],
            "split": [x.decode() for x in f["face_split"][:]],
            "gender": [x.decode() for x in f["face_gender"][:]],
            "pair_face": f["pair_face"][:],
        }


def _build_shard(path: str, clips: list[Clip], config: PairConfig) -> dict:
    """Worker: the pairs of a group of clips into one shard; one bad clip never stops it."""
    found, pairs, failures = [], [], []
    for clip in clips:
        try:
            f, p, rejected = clip_pairs(clip, config)
        except UserError as exc:
            f, p, rejected = [], [], [(clip.key, "read", str(exc))]
        except Exception as exc:  # log and skip: a batch job outlives a bad item
            log.exception("clip %s failed", clip.key)
            f, p, rejected = [], [], [(clip.key, "error", f"{exc.__class__.__name__}: {exc}")]
        for pair in p:
            pair["face"] += len(found)
        found += f
        pairs += p
        failures += rejected
    write_pair_shard(path, found, pairs, [c.key for c in clips], failures, config)
    return {"clips": len(clips), "pairs": len(pairs)}


def _finished(path: Path, group: list[Clip], config: PairConfig) -> bool:
    """True when ``path`` is a complete shard of exactly this group, built the same way."""
    if not path.is_file():
        return False
    try:
        info = pair_shard_info(path)
    except (OSError, KeyError, ValueError):
        log.warning("%s is unreadable; rebuilding it", path)
        return False
    if info["config"] != asdict(config):
        raise UserError(
            f"{path} was built with other pair options ({info['config']}): use a new output folder"
        )
    return info["clips"] == [c.key for c in group]


def build_pairs(
    clips: list[Clip],
    out_dir: str | os.PathLike,
    config: PairConfig | None = None,
    workers: int = 1,
    clips_per_shard: int = 4,
    source_failures=(),
    protocol: str = "",
    command: str | None = None,
) -> dict:
    """Build (or resume) a Wav2Pix pair dataset from split clips.

    Args:
        clips: from a source, split (:func:`speech2face.dataset.splits.apply_split_mode`
            with ``window=1``, as :func:`speech2face.api.wav2pix_prepare` does).
        out_dir: dataset folder: ``shards/pairs-NNNNN.h5``, ``pairs.json``, ``failures.csv``.
        source_failures: (item, reason) from the source.
        protocol: the split mode, recorded in the manifest.
    Returns:
        The manifest (also written to ``out_dir/pairs.json``).
    Raises:
        UserError: no clips, or finished shards built with other options.
    """
    from tqdm import tqdm

    config = config or PairConfig()
    if not clips:
        raise UserError("no clips to cut into pairs")
    out = Path(out_dir)
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    paths, todo = unfinished_groups(
        sorted(clips, key=lambda c: c.key),
        clips_per_shard,
        lambda i: out / SHARD_DIR / f"pairs-{i:05d}.h5",
        lambda p, g: _finished(p, g, config),
    )
    done = len(clips) - sum(len(g) for _, g in todo)
    bar = tqdm(total=len(clips), initial=done, unit="clip", desc="pairs")
    made, start = 0, time.time()

    def progress(result):
        nonlocal made
        made += result["pairs"]
        bar.update(result["clips"])
        bar.set_postfix(pairs=made, pairs_per_s=f"{made / (time.time() - start):.1f}")

    if workers <= 1:
        for p, g in todo:
            progress(_build_shard(p, g, config))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_build_shard, p, g, config) for p, g in todo]
            for future in as_completed(futures):
                progress(future.result())
    bar.close()
    for stale in (out / SHARD_DIR).glob("pairs-*.h5"):
        if stale not in paths:
            stale.unlink()
    return write_pair_manifest(out, paths, config, source_failures, protocol, command)


def write_pair_manifest(
    out: Path, paths: list[Path], config: PairConfig, source_failures=(), protocol="", command=None
) -> dict:
    """Write ``failures.csv`` and ``pairs.json`` from the finished shards."""
    failures = [("source", "source", f"{item}: {reason}") for item, reason in source_failures]
    identities: dict[str, dict] = {}
    infos = []
    for path in paths:
        info = pair_shard_info(path)
        failures += info["failures"]
        per_face = Counter(info["pair_face"].tolist())
        for row, (ident, split, gender) in enumerate(
            zip(info["identity"], info["split"], info["gender"], strict=True)
        ):
            entry = identities.setdefault(ident, {"gender": gender, "faces": {}, "pairs": {}})
            entry["faces"][split] = entry["faces"].get(split, 0) + 1
            entry["pairs"][split] = entry["pairs"].get(split, 0) + per_face[row]
        infos.append(
            {
                "file": str(path.relative_to(out)),
                "sha256": sha256(path),
                "faces": len(info["identity"]),
                "pairs": len(info["pair_face"]),
                "clips": len(info["clips"]),
            }
        )
    with open(out / (FAILURES + ".tmp"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", "stage", "reason"])
        writer.writerows(failures)
    os.replace(out / (FAILURES + ".tmp"), out / FAILURES)
    splits = sorted({s for e in identities.values() for s in e["pairs"]})
    counts = {
        s: {
            "identities": sum(1 for e in identities.values() if e["pairs"].get(s)),
            "faces": sum(e["faces"].get(s, 0) for e in identities.values()),
            "pairs": sum(e["pairs"].get(s, 0) for e in identities.values()),
        }
        for s in splits
    }
    manifest = {
        "format": 1,
        "kind": "wav2pix_pairs",
        "protocol": protocol,
        "sample_rate": audio.SAMPLE_RATE,
        "window": WINDOW,
        "pre_emphasis": PRE_EMPHASIS,
        "config": asdict(config),
        "counts": counts,
        "identities": identities,
        "shards": infos,
        "failures": len(failures),
        "rejections": dict(Counter(stage for _, stage, _ in failures)),
        "command": command or " ".join(sys.argv),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)
    return manifest


def summary(manifest: dict) -> str:
    """Human summary of a pair dataset."""
    lines = []
    for split, c in manifest["counts"].items():
        lines.append(
            f"  {split}: {c['pairs']} pairs, {c['faces']} faces, {c['identities']} identities"
        )
    rej = ", ".join(f"{k}: {v}" for k, v in manifest["rejections"].items()) or "none"
    lines.append(f"  rejections by stage: {rej}")
    return "\n".join(lines)
