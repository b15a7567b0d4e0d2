"""Read a prepared dataset: manifest, identities and segments (h5py only).

TensorFlow-free: segments are dicts of numpy arrays, so the same reader feeds Keras on
TensorFlow, JAX or PyTorch; shuffled training batches are
:class:`speech2face.speech2face.data.batches.SegmentBatches`. Shards of both formats
(:mod:`speech2face.dataset.shards`) read the same.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.dataset import shards as shard_io
from speech2face.dataset.shards import MANIFEST
from speech2face.errors import UserError

FIELDS = (
    "audio",
    "face",
    "landmarks",
    "feature",
    "box",
    "start",
    "end",
    "identity",
    "split",
    "gender",
    "clip",
)


MAX_OPEN = 128  # shard files a Dataset keeps open (per process)
LARGE = ("audio", "face")  # fields read row by row; the others are read whole, once a shard


class _OpenShard:
    """An open shard file: its h5py datasets, codecs, and its small fields read whole."""

    def __init__(self, path: Path):
        import h5py

        self.file = h5py.File(path, "r")
        self.datasets = {name: self.file[name] for name in self.file}
        self.codecs = shard_io.codecs(self.file)
        self.columns: dict[str, np.ndarray] = {}

    def rows(self, name: str, rows: list[int]) -> list:
        """Stored values of field ``name`` at ``rows`` (decoded by ``decode_rows``)."""
        if name not in LARGE:
            if name not in self.columns:
                self.columns[name] = self.datasets[name][()]
            column = self.columns[name]
            return [column[r] for r in rows]
        unique = sorted(set(rows))
        data = self.datasets[name][unique] if unique else []
        values = dict(zip(unique, data, strict=True))
        return [values[r] for r in rows]


def _stack(values: list) -> np.ndarray:
    """Values of one field -> an array: numeric ones stacked, strings an object array."""
    if not values:
        return np.zeros(0)
    if isinstance(values[0], str):
        return np.asarray(values, dtype=object)
    first = np.asarray(values[0])
    out = np.empty((len(values), *first.shape), first.dtype)
    for i, value in enumerate(values):
        out[i] = value
    return out


class Dataset:
    """A dataset folder written by ``speech2face prepare``.

    Shard files stay open between reads (the :data:`MAX_OPEN` most recently used, per
    process; h5py), so reading a batch costs no file opening. A Dataset can be used from
    several threads at once (HDF5 reads take turns, decoding runs in parallel) and pickled
    to worker processes (open files are not carried over).

    Attributes:
        root: the folder. manifest: the parsed ``dataset.json``.
        face_encoder (str), feature_dim (int): the face feature the targets use.
    Raises:
        UserError: the folder has no ``dataset.json`` or a listed shard is missing.
        DamagedFileError: ``dataset.json`` is unreadable or a shard's size differs from the
            one it records; a shard is checked against its sha256 the first time it is read,
            and a shard that fails while being read names itself.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise UserError(
                f"{self.root}: not a dataset (no {MANIFEST}); build one with `speech2face prepare`"
            )
        self.remedy = (
            f"re-run `speech2face prepare` with `-o {self.root}` (same source and options) "
            "to rebuild it"
        )
        with integrity.reading(path, self.remedy, "dataset manifest"):
            self.manifest = json.loads(path.read_text())
            self.face_encoder = self.manifest["face_encoder"]
            self.feature_dim = int(self.manifest["feature_dim"])
            self.shards = [integrity.inside(self.root, s["file"]) for s in self.manifest["shards"]]
        for shard in self.shards:
            if not shard.is_file():
                raise UserError(f"{shard}: shard listed in {path} is missing")
        for shard, rec in zip(self.shards, self.manifest["shards"], strict=True):
            integrity.check(shard, rec, self.remedy, what="shard", full=False)
        self._index = None
        self._files: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_files"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _shard(self, s: int) -> _OpenShard:
        """The open shard ``s`` (call with ``self._lock`` held)."""
        if self._pid != os.getpid():  # a forked child: the parent's handles are not ours
            self._files, self._pid = OrderedDict(), os.getpid()
        shard = self._files.pop(s, None)
        if shard is None or not shard.file.id.valid:
            shard = _OpenShard(self.shards[s])
        self._files[s] = shard
        while len(self._files) > MAX_OPEN:
            self._files.popitem(last=False)[1].file.close()
        return shard

    def close(self) -> None:
        """Close the open shard files (they reopen on the next read)."""
        with self._lock:
            while self._files:
                self._files.popitem()[1].file.close()

    def _reading(self, s: int, full: bool = True):
        """Context for reading shard ``s``: checked against its record first (the sha256
        once per process when ``full``); any failure inside names the shard."""
        shard, record = self.shards[s], self.manifest["shards"][s]
        integrity.check(shard, record, self.remedy, what="shard", full=full)
        return integrity.reading(shard, self.remedy, "shard")

    def identities(self, split: str | None = None) -> list[str]:
        """Sorted identity names, optionally those with segments in one split.

        With held-out speech (split mode ``seen``/``both``) an identity has segments in
        ``train`` and in ``test_seen``.
        """
        ids = self.manifest["identities"]
        return sorted(
            k
            for k, v in ids.items()
            if split is None or split in v.get("splits", {v["split"]: v["segments"]})
        )

    def splits(self) -> list[str]:
        """The splits that hold segments, e.g. ["test", "test_seen", "train"]."""
        return sorted(self.manifest["counts"])

    def index(self, split: str | None = None) -> list[tuple[int, int]]:
        """(shard number, row) of every segment, optionally of one split, in storage order."""
        import h5py

        if self._index is None:
            self._index = []
            for s, shard in enumerate(self.shards):
                with self._reading(s, full=False), h5py.File(shard, "r") as f:
                    splits = [x.decode() for x in f["split"][:]]
                self._index += [(s, r, sp) for r, sp in enumerate(splits)]
        return [(s, r) for s, r, sp in self._index if split is None or sp == split]

    def read(self, rows: list[tuple[int, int]], fields=FIELDS) -> dict[str, np.ndarray]:
        """Read segments by (shard, row), in the given order.

        Returns:
            {field: array with leading dimension len(rows)}; strings as str object arrays,
            ``audio`` as int16 (N, 96000) (:func:`speech2face.dataset.shards.decode_audio`
            gives float), ``face`` uint8 (N, 224, 224, 3), whatever the shard format.
        """
        out: dict[str, list] = {name: [None] * len(rows) for name in fields}
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for pos, (s, r) in enumerate(rows):
            by_shard.setdefault(int(s), []).append((pos, int(r)))
        for s, items in by_shard.items():
            wanted = [r for _, r in items]
            with self._reading(s):
                with self._lock:  # HDF5 reads take turns; decoding below runs in parallel
                    shard = self._shard(s)
                    stored = {name: shard.rows(name, wanted) for name in fields}
                for name in fields:
                    values = shard_io.decode_rows(name, stored[name], shard.codecs)
                    for (pos, _), value in zip(items, values, strict=True):
                        out[name][pos] = value
        return {name: _stack(values) for name, values in out.items()}

    def load(self, split: str | None = None, fields=FIELDS) -> dict[str, np.ndarray]:
        """Every segment of a split in memory (small datasets, evaluation)."""
        return self.read(self.index(split), fields)
