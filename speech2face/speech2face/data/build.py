"""Clips -> segments -> HDF5 shards: resumable, parallel, one bad clip never stops a run.

The sorted clip list is cut into fixed groups (``clips_per_shard``); each group becomes
one shard written atomically, so a run killed at any moment and started again redoes only
the groups without a finished shard and ends with exactly the segments of an uninterrupted
run. ``failures.csv`` and the dataset manifest ``dataset.json`` are rebuilt from the shards
at the end of every run. No TensorFlow is imported here.

Engines (``PrepareConfig.engine``): ``local``, a process pool of ``workers`` on this
machine (the default; nothing more to install), or ``ray``, one Ray task per group on a Ray
cluster (``address``; the ``[cluster]`` extra), both in
:mod:`speech2face.dataset.engines`. Both run the same function on the same groups, so they
write the same shards.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from speech2face import audio, integrity
from speech2face.dataset import shards
from speech2face.dataset.engines import ENGINES, run_tasks, unfinished_groups
from speech2face.dataset.sources import Clip
from speech2face.errors import UserError
from speech2face.speech2face.data.segments import SegmentConfig, clip_segments

log = logging.getLogger(__name__)


@dataclass
class PrepareConfig:
    """Options of ``speech2face prepare`` besides the source's and the segments'."""

    face_encoder: str = "dlib"  # dlib (128-D, offline) or vggface (4096-D fc7, needs weights)
    vggface_weights: str | None = None
    clips_per_shard: int = 4  # clips per HDF5 shard: the unit of resume
    workers: int = 1  # worker processes (local engine; ray without an address: its CPUs)
    face_codec: str = "jpeg"  # stored face crops: jpeg (quality 95) or png (lossless)
    audio_codec: str = "blosc"  # stored audio (lossless): blosc (fast to decode) or flac
    engine: str = "local"  # local (process pool) or ray (tasks on a Ray cluster)
    address: str | None = None  # ray: cluster address (default $RAY_ADDRESS, else a local one)
    segment: SegmentConfig = field(default_factory=SegmentConfig)


_ENCODER = {}


def _encoder(name: str, weights: str | None):
    """One face encoder per process (models load once)."""
    from speech2face import faces

    if name not in _ENCODER:
        _ENCODER[name] = faces.get_encoder(name, weights)
    return _ENCODER[name]


def _build_shard(path: str, clips: list[Clip], config: PrepareConfig) -> dict:
    """Worker: process a group of clips and write its shard. Returns its summary."""
    encoder = _encoder(config.face_encoder, config.vggface_weights)
    segments, failures = [], []
    for clip in clips:
        try:
            segs, rejected = clip_segments(clip, config.segment, encoder)
        except UserError as exc:
            segs, rejected = [], [(clip.key, "read", str(exc))]
        except Exception as exc:  # one bad clip never stops the run
            log.exception("clip %s failed", clip.key)
            segs, rejected = [], [(clip.key, "error", f"{exc.__class__.__name__}: {exc}")]
        for item in rejected:
            log.info("rejected %s (%s): %s", *item)
        segments += segs
        failures += rejected
    shards.write_shard(
        path,
        segments,
        [c.key for c in clips],
        failures,
        encoder.name,
        encoder.dim,
        face_size=config.segment.face_size,
        face_codec=config.face_codec,
        audio_codec=config.audio_codec,
    )
    return {"path": path, "clips": len(clips), "segments": len(segments)}


def _finished(path: Path, group: list[Clip], encoder: str, recorded: dict | None = None) -> bool:
    """True when ``path`` is a complete shard of exactly this group (and, when the last
    manifest recorded it, of the same size and sha256: a damaged shard is rebuilt)."""
    if not path.is_file():
        return False
    if recorded is not None:
        try:
            integrity.check(path, recorded, "rebuilding it", what="shard")
        except integrity.DamagedFileError as exc:
            log.warning("%s", exc)
            return False
    try:
        info = shards.shard_info(path)
    except (OSError, KeyError, ValueError):
        log.warning("%s is unreadable; rebuilding it", path)
        return False
    if info["face_encoder"] != encoder:
        raise UserError(
            f"{path} was built with the {info['face_encoder']} face encoder, not {encoder}: "
            "use a new output folder"
        )
    return info["clips"] == [c.key for c in group]


def _recorded_shards(out: Path) -> dict[str, dict]:
    """{shard file relative to ``out``: its record} from the last run's ``dataset.json``."""
    try:
        manifest = json.loads((out / shards.MANIFEST).read_text())
        return {s["file"]: s for s in manifest["shards"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def prepare(
    clips: list[Clip],
    out_dir: str | os.PathLike,
    config: PrepareConfig | None = None,
    source_failures: list[tuple[str, str]] = (),
    command: str | None = None,
) -> dict:
    """Build (or resume) a dataset of segments from clips.

    Args:
        clips: from :mod:`speech2face.dataset.sources`.
        out_dir: dataset folder: ``shards/shard-NNNNN.h5``, ``dataset.json``, ``failures.csv``.
        config: options; defaults follow the paper with the dlib face encoder.
        source_failures: (item, reason) from the source (bad CSV rows, failed downloads).
        command: the command line recorded in the manifest.
    Returns:
        The manifest (also written to ``out_dir/dataset.json``); its :func:`summary` is
        printed.
    Raises:
        UserError: no clips, an existing dataset built with another face encoder, an
            unknown engine or face codec, or (engine ray) Ray missing or unreachable.
    """
    from tqdm import tqdm

    config = config or PrepareConfig()
    out = Path(out_dir)
    if not clips:
        if source_failures:  # every row rejected: say which and why before refusing
            out.mkdir(parents=True, exist_ok=True)
            _write_failures(out, _source_rows(source_failures))
            raise UserError(
                f"no clips to prepare: {len(source_failures)} source rows rejected, each with "
                f"its line and reason in {out / shards.FAILURES}"
            )
        raise UserError("no clips to prepare")
    if config.engine not in ENGINES:
        raise UserError(f"unknown engine {config.engine!r}: use one of {', '.join(ENGINES)}")
    if config.audio_codec not in shards.AUDIO_CODECS:
        raise UserError(
            f"unknown audio codec {config.audio_codec!r}: "
            f"use one of {', '.join(shards.AUDIO_CODECS)}"
        )
    if config.face_codec not in shards.FACE_CODECS:
        raise UserError(
            f"unknown face codec {config.face_codec!r}: use one of {', '.join(shards.FACE_CODECS)}"
        )
    (out / shards.SHARD_DIR).mkdir(parents=True, exist_ok=True)
    recorded = _recorded_shards(out)
    paths, todo = unfinished_groups(
        sorted(clips, key=lambda c: c.key),
        config.clips_per_shard,
        lambda i: shards.shard_path(out, i),
        lambda p, g: _finished(p, g, config.face_encoder, recorded.get(str(p.relative_to(out)))),
    )
    done_clips = len(clips) - sum(len(g) for _, g in todo)
    start = time.time()
    made = 0
    bar = tqdm(total=len(clips), initial=done_clips, unit="clip", desc="prepare")
    for result in run_tasks(_build_shard, [(p, g, config) for p, g in todo], config):
        made += result["segments"]
        bar.update(result["clips"])
        bar.set_postfix(segments=made, seg_per_s=f"{made / (time.time() - start):.2f}")
    bar.close()
    for stale in shards.shard_files(out):
        if stale not in paths:  # left by a run with another clip list
            stale.unlink()
    for partial in (out / shards.SHARD_DIR).glob("*.tmp"):  # left by a killed writer
        partial.unlink(missing_ok=True)
    manifest = write_manifest(out, paths, config, source_failures, command)
    print(summary(manifest))
    return manifest


def write_manifest(
    out: Path,
    paths: list[Path],
    config: PrepareConfig,
    source_failures=(),
    command: str | None = None,
) -> dict:
    """Write ``failures.csv`` and ``dataset.json`` from the finished shards."""
    infos, failures = [], _source_rows(source_failures)
    identities: dict[str, dict] = {}
    dim = 0
    for path in paths:
        info = shards.shard_info(path)
        dim = info["feature_dim"]
        failures += info["failures"]
        infos.append(
            {
                "file": str(path.relative_to(out)),
                "format": info["format"],
                **integrity.record(path),  # sha256 and bytes, checked by the reader
                "segments": info["segments"],
                "clips": len(info["clips"]),
            }
        )
        for ident, split, gender in zip(
            info["identity"], info["split"], info["gender"], strict=True
        ):
            entry = identities.setdefault(
                ident, {"split": split, "gender": gender, "segments": 0, "splits": {}}
            )
            entry["segments"] += 1
            entry["splits"][split] = entry["splits"].get(split, 0) + 1
            if split == "train":  # an identity with held-out speech is a training identity
                entry["split"] = split
        infos[-1]["seconds"] = info["seconds"]
    _write_failures(out, failures)
    counts = {}
    for split in sorted({s for e in identities.values() for s in e["splits"]}):
        members = [e for e in identities.values() if split in e["splits"]]
        counts[split] = {
            "identities": len(members),
            "segments": sum(e["splits"][split] for e in members),
        }
    manifest = {
        "format": shards.FORMAT,  # of the shards written now; each shard's is in "shards"
        "codecs": {"audio": config.audio_codec, "face": config.face_codec},
        "face_encoder": config.face_encoder,
        "feature_dim": dim,
        "audio": audio.constants(),
        "face_size": config.segment.face_size,
        "segment_config": asdict(config.segment),
        "counts": counts,
        "identities": identities,
        "shards": infos,
        "failures": len(failures),
        "rejections": dict(Counter(stage for _, stage, _ in failures)),
        "seconds_kept": round(sum(s["seconds"] for s in infos), 2),
        "command": command or " ".join(sys.argv),
    }
    tmp = out / (shards.MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / shards.MANIFEST)
    return manifest


def _source_rows(source_failures) -> list[tuple[str, str, str]]:
    """(item, reason) of the source -> failures.csv rows (item, "source", reason)."""
    return [(str(item), "source", str(reason)) for item, reason in source_failures]


def _write_failures(out: Path, failures) -> None:
    """Write ``failures.csv`` (clip, stage, reason) atomically."""
    tmp = out / (shards.FAILURES + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["clip", "stage", "reason"])
        writer.writerows(failures)
    os.replace(tmp, out / shards.FAILURES)


def convert(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    face_codec: str = "jpeg",
    shard_format: int = shards.FORMAT,
    audio_codec: str = "blosc",
) -> dict:
    """Rewrite a dataset in another shard format (e.g. format 1 -> 2: FLAC audio, JPEG faces),
    shard by shard, with the same segments, clips and failures; resumable (finished shards
    of the same format and codec are kept).

    Args:
        src: a dataset folder. out_dir: the new dataset folder (not ``src``).
        face_codec: "jpeg" or "png". shard_format: 2 (default) or 1.
        audio_codec: "blosc" or "flac".
    Returns:
        The new manifest (``out_dir/dataset.json``).
    Raises:
        UserError: ``src`` is not a dataset, or ``out_dir`` is ``src``.
    """
    from tqdm import tqdm

    from speech2face.speech2face.data.reader import FIELDS, Dataset

    dataset = Dataset(src)
    out = Path(out_dir)
    if out.resolve() == dataset.root.resolve():
        raise UserError(f"{out}: convert into a new folder, not into the dataset itself")
    (out / shards.SHARD_DIR).mkdir(parents=True, exist_ok=True)
    paths = []
    for s, shard in enumerate(tqdm(dataset.shards, desc="convert", unit="shard")):
        path = out / shard.relative_to(dataset.root)
        paths.append(path)
        info = shards.shard_info(shard)
        if path.is_file():
            import h5py

            with h5py.File(path, "r") as f:
                wanted = {"audio": audio_codec, "face": face_codec}
                same = shards.shard_format(f) == shard_format and (
                    shard_format == 1 or shards.codecs(f) == wanted
                )
            if same and shards.shard_info(path)["clips"] == info["clips"]:
                continue
        rows = [(s, r) for r in range(info["segments"])]
        data = dataset.read(rows, FIELDS) if rows else {}
        segments = [{k: data[k][i] for k in FIELDS} for i in range(len(rows))]
        shards.write_shard(
            path,
            segments,
            info["clips"],
            info["failures"],
            info["face_encoder"],
            info["feature_dim"],
            face_size=int(dataset.manifest.get("face_size", 224)),
            face_codec=face_codec,
            shard_format=shard_format,
            audio_codec=audio_codec,
        )
    dataset.close()
    segment = SegmentConfig(**dataset.manifest.get("segment_config", {}))
    config = PrepareConfig(
        face_encoder=dataset.face_encoder, face_codec=face_codec, audio_codec=audio_codec
    )
    config.segment = segment
    source = []
    with open(dataset.root / shards.FAILURES, newline="") as f:
        for row in csv.DictReader(f):
            if row["stage"] == "source":
                item, _, reason = row["reason"].partition(": ")
                source.append((item, reason))
    return write_manifest(out, paths, config, source, dataset.manifest.get("command"))


def gender_balance(manifest: dict) -> dict:
    """Per split, the identities and segments of each gender (from ``dataset.json``).

    Returns:
        {split: {gender: {"identities": n, "segments": n}}}; gender "M", "F" or "?".
    """
    out: dict = {}
    for info in manifest["identities"].values():
        gender = info.get("gender") if info.get("gender") in ("M", "F") else "?"
        for split, segments in info.get("splits", {info["split"]: info["segments"]}).items():
            cell = out.setdefault(split, {}).setdefault(gender, {"identities": 0, "segments": 0})
            cell["identities"] += 1
            cell["segments"] += segments
    return out


def balance_text(split_balance: dict) -> str:
    """ "13 M / 5 F identities, 27 M / 5 F segments" for one split of :func:`gender_balance`."""
    genders = [g for g in ("M", "F", "?") if g in split_balance]
    ids = " / ".join(f"{split_balance[g]['identities']} {g}" for g in genders)
    segs = " / ".join(f"{split_balance[g]['segments']} {g}" for g in genders)
    return f"{ids} identities, {segs} segments" if genders else "gender unknown"


def summary(manifest: dict) -> str:
    """Human summary of a finished run, from its manifest (``dataset.json``)."""
    clips = sum(s["clips"] for s in manifest["shards"])
    segs = sum(s["segments"] for s in manifest["shards"])
    parts = [f"{clips} clips -> {segs} segments ({manifest['seconds_kept']:.0f} s of audio kept)"]
    balance = gender_balance(manifest)
    for split, c in manifest["counts"].items():
        parts.append(
            f"  {split}: {c['segments']} segments, {c['identities']} identities "
            f"({balance_text(balance.get(split, {}))})"
        )
    rej = ", ".join(f"{k}: {v}" for k, v in manifest["rejections"].items()) or "none"
    parts.append(f"  rejections by stage: {rej}")
    if manifest["rejections"].get("source"):
        parts.append(
            f"  {manifest['rejections']['source']} source rows rejected "
            f"(line and reason of each in {shards.FAILURES})"
        )
    return "\n".join(parts)
