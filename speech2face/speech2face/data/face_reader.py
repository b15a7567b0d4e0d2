"""Face caches -> faces: the reading side of :mod:`speech2face.speech2face.data.face_cache`.

``faces.json`` names the shards with their sha256 (checked before a shard is read) and the
format version (an unknown one is refused); the canonical filter and the split are applied
here, so changing them needs no rebuild. No TensorFlow is imported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError
from speech2face.speech2face.data.face_cache import FORMAT, INFO_FILE, REMEDY, STRINGS


def is_face_cache(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder written by
    :func:`speech2face.speech2face.data.face_cache.prepare_faces`."""
    return (Path(path) / INFO_FILE).is_file()


def read_faces(
    folder: str | os.PathLike,
    split: str | None = "train",
    max_face_score: float = np.inf,
    fields=("face", "landmarks", "feature", "identity"),
) -> dict[str, np.ndarray]:
    """The faces of one split of a face cache, after the canonical filter.

    Every shard is checked against its sha256 in ``faces.json`` before it is read.

    Args:
        split: "train", "test" or None (both).
        max_face_score: faces with a higher
            :func:`speech2face.faces.canonical.canonical_score` are dropped.
        fields: any of "face" ((N, S, S, 3) uint8 aligned crops), "landmarks" ((N, 68, 2)
            float32 crop pixels), "feature" ((N, dim) float32), "score", "age" ((N,)
            float32, NaN unknown), "identity", "split", "gender", "race", "file" ((N,)
            str).
    Raises:
        UserError: not a face cache, or one of an unknown format.
        DamagedFileError: a shard that differs from its record.
    """
    import h5py

    from speech2face.dataset import shards

    folder = Path(folder)
    if not is_face_cache(folder):
        raise UserError(f"{folder}: not a face cache (no {INFO_FILE}); run `prepare-faces`")
    info = json.loads((folder / INFO_FILE).read_text())
    integrity.check_format(folder / INFO_FILE, info, FORMAT, "face cache")
    parts = {k: [] for k in fields}
    for shard in info["shards"]:
        path = integrity.inside(folder, shard["file"])
        integrity.check(path, shard, REMEDY, what="face shard")
        with h5py.File(path, "r") as f:
            keep = f["score"][:] <= max_face_score
            if split is not None:
                keep &= np.asarray(f["split"].asstr()[:]) == split
            rows = np.flatnonzero(keep)
            for k in fields:
                if k == "face":
                    data = f["face"]
                    parts[k] += [shards.image_pixels(data[i]) for i in rows]
                elif k in STRINGS:
                    parts[k].append(np.asarray(f[k].asstr()[:], dtype=object)[rows])
                else:
                    parts[k].append(f[k][:][rows])
    size = int(info["config"]["size"])
    out = {}
    for k in fields:
        if k == "face":
            out[k] = np.stack(parts[k]) if parts[k] else np.zeros((0, size, size, 3), np.uint8)
        else:
            out[k] = np.concatenate(parts[k]) if parts[k] else np.zeros(0, object)
    return out
