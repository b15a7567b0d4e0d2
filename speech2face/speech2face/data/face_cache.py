"""Face-only sources at scale: photos and silent videos -> cached HDF5 face shards.

`speech2face prepare-faces SOURCE -o FOLDER` (and `train-decoder --faces SOURCE`, which
caches a raw source under its run folder) detects, aligns, describes and scores every face
once and writes them in shards, like `prepare` writes segments:

- a source is a labelled-photo CSV (a ``file`` or ``path`` column, optional ``identity``,
  ``age``, ``gender``, ``race``, ``split``, ``duplicate_group``, ``label_conflict``:
  UTKFace's ``utkface.csv``), a manifest CSV (``face_photo`` / ``face_video`` rows), or a
  folder ``<identity>/<file>`` (:func:`list_items`);
- the sorted item list is cut into groups of ``shard_size``; each group becomes one shard
  ``face_shards/faces-NNNNN.h5`` written atomically, keyed on its items and settings, so a
  killed run started again redoes only the unfinished groups;
- the groups run on a process pool or Ray (the engines of `prepare`,
  `speech2face.dataset.engines.run_tasks`);
- the age filter (``min_age``, adults by default since the voices are adults') applies when
  the items are listed; the canonical filter (pose, expression) applies when the faces are
  read (:func:`speech2face.speech2face.data.face_reader.read_faces`), so changing it needs no
  rebuild;
- ``faces.json`` records each shard's sha256 (checked before use) and the counts, and
  ``failures.csv`` every item without a face.

No TensorFlow is imported here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import MEDIA_SUFFIXES, split_of
from speech2face.errors import UserError
from speech2face.faces.detect import DETECTOR

log = logging.getLogger(__name__)

FORMAT = 1  # the face-shard format written and read by this release
INFO_FILE = "faces.json"
SHARD_DIR = "face_shards"
FAILURES = "failures.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
KINDS = ("face_photo", "face_video")
ADULT_AGE = 18  # years: the default age filter (the training voices are adults')
STRINGS = ("identity", "split", "gender", "race", "file")
ARRAYS = ("landmarks", "feature", "score", "age")
REMEDY = "run `speech2face prepare-faces` again to rebuild it"


@dataclass
class FaceSourceConfig:
    """Options of `speech2face prepare-faces` (and of the cache `train-decoder` builds)."""

    face_encoder: str = "dlib"  # the dataset's face encoder: dlib or vggface
    vggface_weights: str | None = None
    min_age: float = ADULT_AGE  # faces labelled younger are skipped; unlabelled ones kept
    shard_size: int = 500  # items per shard: the unit of resume
    frames_per_video: int = 3  # faces kept from each video
    frame_candidates: int = 4  # frames read per kept face of a video (most canonical kept)
    detector: str = DETECTOR
    size: int = 224  # side of the stored aligned crops (faces.CROP_SIZE)
    workers: int = 1  # worker processes (local engine; ray without an address: its CPUs)
    engine: str = "local"  # local (process pool) or ray
    address: str | None = None  # ray: cluster address


@dataclass(frozen=True)
class FaceItem:
    """One photo or video of a face source, with its labels (age NaN / "" when unknown)."""

    file: str  # absolute path
    identity: str
    split: str
    age: float = float("nan")
    gender: str = ""
    race: str = ""


# --- listing ---------------------------------------------------------------------------


def list_items(source: str | os.PathLike, min_age: float = ADULT_AGE) -> list[FaceItem]:
    """The items of a face source, sorted by file, after the age filter.

    Labelled-photo CSVs resolve ``file`` against the CSV's folder, then against the folder
    named like the CSV (``utkface.csv`` -> ``utkface/``), and keep every path inside them.
    Photos without an ``identity`` are their own identity (UTKFace has no identity
    labels). Of byte-identical copies (``duplicate_group``) the first is kept, and groups
    whose labels disagree (``label_conflict`` yes) are dropped. Without a ``split`` column
    items are split by identity (:func:`speech2face.dataset.sources.split_of`).

    Raises:
        UserError: not a CSV or a folder, a CSV without a ``file`` / ``path`` column, or a
            path that leaves the source's folder.
    """
    from speech2face.dataset.sources.folder import inside

    path = Path(source)
    if path.is_dir():
        items = [
            FaceItem(str(f), f.parent.name, split_of(f.parent.name))
            for f in sorted(path.glob("*/*"))
            if f.suffix.lower() in IMAGE_SUFFIXES + MEDIA_SUFFIXES
        ]
    elif path.suffix.lower() == ".csv" and path.is_file():
        with open_csv(path) as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = set(reader.fieldnames or ())
        if "kind" in columns:
            rows = [r for r in rows if r.get("kind") in KINDS]
        elif not columns & {"file", "path"}:
            raise UserError(f"{path}: a face CSV needs a 'file' or 'path' column")
        base = path.parent / path.stem
        base = base if base.is_dir() else path.parent
        items, seen = [], set()
        for row in rows:
            name = row.get("file") or row.get("path")
            group = row.get("duplicate_group") or ""
            if (row.get("label_conflict") or "").lower() in ("yes", "true", "1"):
                continue
            if group and group in seen:
                continue
            seen.add(group) if group else None
            identity = row.get("identity") or Path(name).name
            items.append(
                FaceItem(
                    str(inside(base, name)),
                    identity,
                    row.get("split") or split_of(identity),
                    _age(row.get("age")),
                    (row.get("gender") or "").upper()[:1],
                    row.get("race") or "",
                )
            )
        items.sort(key=lambda it: it.file)
    else:
        raise UserError(
            f"{path}: not a face source (a labelled-photo CSV, a manifest CSV or a folder "
            "<identity>/<file>)"
        )
    return [it for it in items if not it.age < min_age]  # NaN (unknown age) is kept


def _age(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


# --- building --------------------------------------------------------------------------


def prepare_faces(source, out, config: FaceSourceConfig | None = None) -> dict:
    """Detect, align, describe and score the faces of a source into ``out`` (resumable).

    Args:
        source: see :func:`list_items`.
        out: the cache folder: ``face_shards/faces-NNNNN.h5``, ``faces.json``,
            ``failures.csv``.
        config: options (:class:`FaceSourceConfig`).
    Returns:
        The ``faces.json`` record: {"format", "source", "config", "faces", "items",
        "failed", "shards": [{"file", "bytes", "sha256", "faces", "items"}]}.
    Raises:
        UserError: no items in the source, an unknown engine, or an existing cache of
            another source or face encoder.
    """
    from tqdm import tqdm

    from speech2face.dataset.engines import run_tasks, unfinished_groups

    config = config or FaceSourceConfig()
    out = Path(out)
    items = list_items(source, config.min_age)
    if not items:
        raise UserError(f"{source}: no faces to prepare (after the age filter {config.min_age})")
    _check_same_encoder(out, config)
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    paths, todo = unfinished_groups(
        items,
        config.shard_size,
        lambda i: out / SHARD_DIR / f"faces-{i:05d}.h5",
        lambda p, g: _finished(p, g, config),
    )
    done = len(items) - sum(len(g) for _, g in todo)
    bar = tqdm(total=len(items), initial=done, unit="face", desc="prepare-faces")
    for result in run_tasks(_build_shard, [(p, g, config) for p, g in todo], config):
        bar.update(result["items"])
    bar.close()
    for stale in (out / SHARD_DIR).glob("*.h5"):
        if stale not in paths:
            stale.unlink()
    for partial in (out / SHARD_DIR).glob("*.tmp"):
        partial.unlink(missing_ok=True)
    info = _write_info(out, paths, source, config)
    print(
        f"prepare-faces: {info['faces']} faces of {info['items']} items in "
        f"{len(paths)} shards, {info['failed']} without a face (see {out / FAILURES})"
    )
    return info


def _key(items: list[FaceItem], config: FaceSourceConfig) -> str:
    """What a shard was built from: its items and the settings that change its faces."""
    settings = {
        k: v for k, v in asdict(config).items() if k not in ("workers", "engine", "address")
    }
    text = json.dumps([[asdict(it) for it in items], settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _finished(path: Path, items: list[FaceItem], config: FaceSourceConfig) -> bool:
    import h5py

    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("key") == _key(items, config)
    except OSError:  # a damaged shard is rebuilt
        return False


def face_frames(file: Path, count: int) -> list[np.ndarray]:
    """The image, or ``count`` frames of a video evenly spaced in time (RGB uint8).

    Raises:
        FaceError: an image that cannot be read. UserError: a video that cannot be read.
    """
    from speech2face import faces, video

    if file.suffix.lower() in IMAGE_SUFFIXES:
        return [faces.read_image(file)]
    info = video.video_info(file)
    if info is None:
        return []
    times = [(i + 0.5) * info.duration / count for i in range(count)]
    return [frame for _, frame in video.read_frames(file, times)]


def most_canonical(found: list, keep: int) -> list:
    """The ``keep`` aligned faces with the lowest canonical score, in their original order
    (Cole et al. train on frontal, neutral faces)."""
    from speech2face.faces import canonical

    if len(found) <= keep:
        return found
    scores = canonical.canonical_score(np.stack([f.landmarks for f in found]))
    best = sorted(np.argsort(scores, kind="stable")[:keep])
    return [found[i] for i in best]


_ENCODERS: dict = {}


def _build_shard(path: str, items: list[FaceItem], config: FaceSourceConfig) -> dict:
    """Faces of one group of items -> one shard (atomic write). Runs in a worker."""
    import h5py

    from speech2face import faces
    from speech2face.dataset import shards
    from speech2face.faces import canonical

    if config.face_encoder not in _ENCODERS:
        _ENCODERS[config.face_encoder] = faces.get_encoder(
            config.face_encoder, config.vggface_weights
        )
    encoder = _ENCODERS[config.face_encoder]
    rows = {k: [] for k in ("face",) + ARRAYS + STRINGS}
    failures = []
    for item in items:
        try:
            frames = face_frames(Path(item.file), config.frames_per_video * config.frame_candidates)
        except (UserError, OSError, ValueError) as exc:
            failures.append((item.file, f"unreadable: {exc}"))
            continue
        found = [faces.find_face(f, config.detector, size=config.size) for f in frames]
        found = [f for f in found if f is not None]
        if not found:
            failures.append((item.file, "no face found"))
            continue
        keep = config.frames_per_video if len(frames) > 1 else 1
        for face in most_canonical(found, keep):
            rows["face"].append(shards.image_bytes(face.image))
            rows["landmarks"].append(face.landmarks.astype(np.float32))
            rows["feature"].append(
                encoder.encode(face.image[None], face.landmarks[None])[0].astype(np.float32)
            )
            rows["score"].append(canonical.canonical_score(face.landmarks[None])[0])
            rows["age"].append(item.age)
            for k in ("identity", "split", "gender", "race", "file"):
                rows[k].append(getattr(item, k))
    tmp = Path(path + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset(
            "face", data=np.array(rows["face"] or [], dtype=object), dtype=h5py.vlen_dtype(np.uint8)
        )
        n = len(rows["face"])
        shapes = {"landmarks": (n, 68, 2), "feature": (n, encoder.dim), "score": (n,), "age": (n,)}
        for k in ARRAYS:
            f.create_dataset(k, data=np.asarray(rows[k], np.float32).reshape(shapes[k]))
        for k in STRINGS:
            f.create_dataset(k, data=[str(x) for x in rows[k]], dtype=h5py.string_dtype())
        f.create_dataset(
            "failures", data=[json.dumps(x) for x in failures], dtype=h5py.string_dtype()
        )
        f.attrs.update(
            key=_key(items, config),
            format=FORMAT,
            face_encoder=config.face_encoder,
            size=config.size,
            items=len(items),
        )
    os.replace(tmp, path)
    return {"items": len(items), "faces": n, "failed": len(failures)}


def _check_same_encoder(out: Path, config: FaceSourceConfig) -> None:
    info_path = out / INFO_FILE
    if not info_path.is_file():
        return
    old = json.loads(info_path.read_text())
    if old.get("config", {}).get("face_encoder") != config.face_encoder:
        raise UserError(
            f"{out}: a face cache of the {old.get('config', {}).get('face_encoder')} encoder; "
            f"use another folder for {config.face_encoder}"
        )


def _write_info(out: Path, paths: list[Path], source, config: FaceSourceConfig) -> dict:
    import h5py

    shard_rows, failures = [], []
    for path in paths:
        with h5py.File(path, "r") as f:
            count, items = len(f["face"]), int(f.attrs["items"])
            failures += [json.loads(x) for x in f["failures"].asstr()[:]]
        shard_rows.append(
            {
                "file": str(path.relative_to(out)),
                **integrity.record(path),
                "faces": count,
                "items": items,
            }
        )
    with open(out / FAILURES, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "reason"])
        writer.writerows(failures)
    info = {
        "format": FORMAT,
        "source": str(Path(source).resolve()),
        "config": asdict(config),
        "faces": sum(s["faces"] for s in shard_rows),
        "items": sum(s["items"] for s in shard_rows),
        "failed": len(failures),
        "shards": shard_rows,
    }
    tmp = out / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / INFO_FILE)
    return info
