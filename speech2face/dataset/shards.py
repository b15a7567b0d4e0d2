"""HDF5 shards of segments (h5py), written atomically: temporary name, then rename.

This module owns the dataset's on-disk names (``dataset.json``, ``failures.csv``,
``shards/shard-NNNNN.h5``) and the int16 storage of audio (:func:`encode_audio`,
:func:`decode_audio`).

One shard holds the segments of a fixed group of clips. Per segment:
``audio`` int16 (96000,), ``face`` uint8 (224, 224, 3), ``landmarks`` float32 (68, 2),
``feature`` float32 (dim,), ``box`` float32 (4,) (left, top, right, bottom in source pixels),
``start``/``end`` float64 seconds in the clip, and strings ``identity``, ``split``,
``gender``, ``clip``. Attributes: ``clips`` (JSON list of the clip keys it covers),
``failures`` (JSON list of [clip, stage, reason]), ``face_encoder``, ``feature_dim``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face.audio import N_SAMPLES
from speech2face.faces.alignment import CROP_SIZE

MANIFEST = "dataset.json"  # the dataset manifest beside the shards folder
FAILURES = "failures.csv"  # every rejected clip and segment: clip, stage, reason
SHARD_DIR = "shards"
INT16_SCALE = 32767.0  # full scale 1.0 <-> 32767

ARRAYS = {  # name -> (shape after N, dtype)
    "audio": ((), np.int16),
    "face": ((), np.uint8),
    "landmarks": ((68, 2), np.float32),
    "feature": ((), np.float32),
    "box": ((4,), np.float32),
    "start": ((), np.float64),
    "end": ((), np.float64),
}
STRINGS = ("identity", "split", "gender", "clip")


def shard_path(root: str | os.PathLike, index: int) -> Path:
    """Path of shard number ``index`` of the dataset in ``root``: ``shards/shard-NNNNN.h5``."""
    return Path(root) / SHARD_DIR / f"shard-{index:05d}.h5"


def shard_files(root: str | os.PathLike) -> list[Path]:
    """Every shard file in the dataset folder ``root`` (finished ones; not ``.tmp`` files)."""
    return sorted((Path(root) / SHARD_DIR).glob("shard-*.h5"))


def encode_audio(wave: np.ndarray) -> np.ndarray:
    """Float waveform in [-1, 1] -> int16 samples as stored in shards, same shape."""
    return np.round(np.asarray(wave) * INT16_SCALE).astype(np.int16)


def decode_audio(samples: np.ndarray) -> np.ndarray:
    """Stored int16 samples -> float32 waveform in [-1, 1], same shape."""
    return np.asarray(samples, np.float32) / INT16_SCALE


def write_shard(
    path: str | os.PathLike,
    segments: list[dict],
    clips: list[str],
    failures: list[tuple[str, str, str]],
    face_encoder: str,
    feature_dim: int,
    audio_samples: int = N_SAMPLES,
    face_size: int = CROP_SIZE,
) -> Path:
    """Write segments to ``path`` atomically (``path.tmp`` renamed when complete).

    Args:
        segments: dicts with the per-segment keys listed in the module doc.
        clips: keys of every clip this shard covers (done, even with no segment).
        failures: (clip, stage, reason) for rejected clips and segments.
    Returns:
        The final path.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = len(segments)
    shapes = {
        "audio": (audio_samples,),
        "face": (face_size, face_size, 3),
        "feature": (feature_dim,),
        "start": (),
        "end": (),
    }
    with h5py.File(tmp, "w") as f:
        for name, (shape, dtype) in ARRAYS.items():
            shape = shapes.get(name, shape)
            data = np.zeros((n, *shape), dtype)
            for i, seg in enumerate(segments):
                data[i] = seg[name]
            opts = {"compression": "gzip", "compression_opts": 1} if name == "face" and n else {}
            f.create_dataset(name, data=data, **opts)
        for name in STRINGS:
            f.create_dataset(
                name, data=[seg[name] for seg in segments], dtype=h5py.string_dtype(), shape=(n,)
            )
        f.attrs["clips"] = json.dumps(clips)
        f.attrs["failures"] = json.dumps([list(x) for x in failures])
        f.attrs["face_encoder"] = face_encoder
        f.attrs["feature_dim"] = feature_dim
    os.replace(tmp, path)
    return path


def shard_info(path: str | os.PathLike) -> dict:
    """Attributes of a shard: clips, failures, face_encoder, feature_dim, segments (count).

    Raises:
        OSError: the file is not a readable HDF5 shard.
    """
    import h5py

    with h5py.File(path, "r") as f:
        return {
            "clips": json.loads(f.attrs["clips"]),
            "failures": [tuple(x) for x in json.loads(f.attrs["failures"])],
            "face_encoder": str(f.attrs["face_encoder"]),
            "feature_dim": int(f.attrs["feature_dim"]),
            "segments": int(f["audio"].shape[0]),
            "identity": [s.decode() for s in f["identity"][:]],
            "split": [s.decode() for s in f["split"][:]],
            "gender": [s.decode() for s in f["gender"][:]],
            "seconds": float(np.sum(f["end"][:] - f["start"][:])),
        }


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (:func:`speech2face.integrity.sha256`)."""
    from speech2face.integrity import sha256 as digest

    return digest(path)
