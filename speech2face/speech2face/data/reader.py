"""Read a prepared dataset: manifest, identities, segments and shuffled batches (h5py only).

TensorFlow-free: batches are dicts of numpy arrays, so the same reader feeds Keras on
TensorFlow, JAX or PyTorch. ``SegmentBatches`` follows the ``keras.utils.PyDataset``
protocol (``__len__``, ``__getitem__``, ``on_epoch_end``) without importing Keras, and
streams the batches of a range of steps with parallel readers and prefetch
(:meth:`SegmentBatches.stream`, on grain). Shards of both formats
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
from speech2face.dataset.shards import MANIFEST, decode_audio
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


MAX_GAIN_DB = 6.0  # augmentation: random gain in [-6, +6] dB, a level range of real recordings


def augment_waveforms(waves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random circular time shift and gain of each waveform; the 6 s input stays 6 s.

    A segment of a short clip is the clip repeated (the paper's loop padding), so a circular
    shift shows the same speech from another start; for a window of a long clip it moves the
    cut. The gain is uniform in decibels within +-:data:`MAX_GAIN_DB`, clipped to [-1, 1].

    Args:
        waves: (B, N) float32 waveforms in [-1, 1]. rng: the batch's random generator.
    Returns:
        (B, N) float32, a new array.
    """
    waves = np.asarray(waves, np.float32)
    n = waves.shape[1]
    shifts = rng.integers(0, n, len(waves))
    gains = 10.0 ** (rng.uniform(-MAX_GAIN_DB, MAX_GAIN_DB, len(waves)) / 20.0)
    out = np.empty_like(waves)
    for row, wave, shift in zip(out, waves, shifts, strict=True):  # np.roll, in place
        row[:shift], row[shift:] = wave[n - shift :], wave[: n - shift]
    out *= gains[:, None].astype(np.float32)
    return np.clip(out, -1.0, 1.0, out=out)


SHUFFLE_SHARDS = 64  # shards whose segments one shuffle window mixes (SegmentBatches)


class SegmentBatches:
    """Shuffled batches of one split, in the ``keras.utils.PyDataset`` protocol.

    Every batch is a pure function of (seed, epoch, batch index, process index, process
    count): a resumed run sees exactly the batches it would have seen (training resumes
    "data order"), whichever readers produced them.

    Order of epoch ``e``: when the split's segments lie in at most ``shuffle_shards``
    shards, a permutation of all of them drawn from ``seed + e``. With more shards, a
    shuffle across shards that reads few files at a time: the shards are put in a random
    order (seed, e), cut into windows of ``shuffle_shards`` shards, and the segments of each
    window are permuted (the role of a shuffle buffer, but addressable by step).

    Several hosts (multi-host JAX): a global batch of ``batch_size * process_count``
    segments is drawn per step, and process ``process_index`` gets its own
    ``batch_size`` of them, so the hosts never read the same segment in a step and the
    global batch does not depend on how many readers each host runs.

    Args:
        dataset: a :class:`Dataset`. split: "train", "test" or None for all.
        batch_size: segments per batch on this host; the last short batch is dropped when
            ``drop_last`` (default) so every step has the same shape.
        fields: which fields a batch holds.
        augment: apply :func:`augment_waveforms` to ``audio``, with a generator seeded by
            (seed, epoch, batch index[, process index]), so an augmented batch is still a
            pure function of the step and the seed.
        process_index, process_count: this host and the number of hosts (default 0 and 1;
            ``jax.process_index()``/``jax.process_count()`` on multi-host JAX).
        shuffle_shards: shards per shuffle window (see above).
    Yields (``__getitem__``):
        dict of arrays: ``audio`` becomes float32 (B, 96000) waveforms, ``face`` uint8
        (B, 224, 224, 3), ``feature`` float32 (B, dim).
    Raises:
        UserError: no segment in the split; a batch of the given size (times the process
            count) larger than the split; ``process_index`` outside [0, process_count).
    """

    def __init__(
        self,
        dataset: Dataset,
        split: str | None = "train",
        batch_size: int = 8,
        fields=("audio", "feature"),
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
        augment: bool = False,
        process_index: int = 0,
        process_count: int = 1,
        shuffle_shards: int = SHUFFLE_SHARDS,
    ):
        self.dataset = dataset
        self.rows = dataset.index(split)
        if not self.rows:
            raise UserError(f"{dataset.root}: no segments in split {split!r}")
        if not 0 <= process_index < process_count:
            raise UserError(f"process index {process_index} not in [0, {process_count})")
        if process_count > 1 and batch_size * process_count > len(self.rows):
            raise UserError(
                f"{dataset.root}: a global batch of {batch_size} x {process_count} hosts is "
                f"more than the {len(self.rows)} segments of split {split!r}"
            )
        self.batch_size = min(batch_size, len(self.rows))
        self.fields = tuple(fields)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.augment = augment
        self.process_index, self.process_count = process_index, process_count
        self.shuffle_shards = max(1, shuffle_shards)
        self.epoch = 0
        self._rows = np.asarray(self.rows, np.int64).reshape(-1, 2)
        self._cache: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        n = len(self.rows) / (self.batch_size * self.process_count)
        return int(n) if self.drop_last else int(np.ceil(n))

    def _permutation(self, epoch: int) -> np.ndarray:
        """Indices into ``self.rows`` in the order of ``epoch`` (cached for the last epoch)."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        n = len(self._rows)
        shard_ids, counts = np.unique(self._rows[:, 0], return_counts=True)
        if not self.shuffle:
            perm = np.arange(n)
        elif len(shard_ids) <= self.shuffle_shards:
            perm = np.random.default_rng(self.seed + epoch).permutation(n)
        else:
            rng = np.random.default_rng([self.seed, epoch])
            by_shard = np.argsort(self._rows[:, 0], kind="stable")  # grouped, shard ids sorted
            bounds = np.concatenate([[0], np.cumsum(counts)])
            order = rng.permutation(len(shard_ids))
            parts = []
            for w in range(0, len(order), self.shuffle_shards):
                window = order[w : w + self.shuffle_shards]
                members = np.concatenate([by_shard[bounds[k] : bounds[k + 1]] for k in window])
                parts.append(rng.permutation(members))
            perm = np.concatenate(parts)
        self._cache = (epoch, perm)
        return perm

    def order(self, epoch: int) -> list[tuple[int, int]]:
        """(shard, row) of every segment in the order of ``epoch`` (all hosts together)."""
        return [tuple(map(int, self._rows[i])) for i in self._permutation(epoch)]

    def batch_rows(self, epoch: int, i: int) -> list[tuple[int, int]]:
        """(shard, row) of batch ``i`` of ``epoch`` on this host, a pure function of the
        seed, the epoch, ``i`` and the host (index, count)."""
        glob = self.batch_size * self.process_count
        lo = i * glob + self.process_index * self.batch_size
        pick = self._permutation(epoch)[lo : lo + self.batch_size]
        return [tuple(map(int, self._rows[k])) for k in pick]

    def batch(self, epoch: int, i: int) -> dict[str, np.ndarray]:
        """Batch ``i`` of ``epoch`` (read and decoded; see the class doc for the arrays)."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        batch = self.dataset.read(self.batch_rows(epoch, i), self.fields)
        if "audio" in batch:
            batch["audio"] = decode_audio(batch["audio"])
            if self.augment:
                key = [self.seed, epoch, i] + (
                    [self.process_index] if self.process_count > 1 else []
                )
                batch["audio"] = augment_waveforms(batch["audio"], np.random.default_rng(key))
        return batch

    def step(self, step: int) -> dict[str, np.ndarray]:
        """The batch of global step ``step`` counted over epochs (epoch = step // len)."""
        return self.batch(*divmod(step, len(self)))

    def stream(
        self, start: int, stop: int, workers: int = 2, prefetch: int = 4, processes: int = 0
    ):
        """Iterator over the batches of global steps ``start`` .. ``stop - 1``, in order,
        read ahead by parallel readers (grain: ``MapDataset`` of steps -> ``IterDataset``
        with ``ReadOptions``, and ``mp_prefetch`` for processes).

        Each item equals :meth:`step` of its step: parallelism changes when a batch is
        read, never what it holds.

        Args:
            workers: reader threads in this process (0: read in the calling thread, no
                grain). HDF5 reads take turns; FLAC and JPEG decoding run in parallel.
            prefetch: batches read ahead (per process).
            processes: worker processes, each with ``workers`` threads (0: none).
        """
        if workers <= 0 and processes <= 0:
            return (self.step(g) for g in range(start, stop))
        import grain

        steps = grain.MapDataset.range(start, stop).map(self.step)
        threads = grain.ReadOptions(num_threads=max(1, workers), prefetch_buffer_size=prefetch)
        data = steps.to_iter_dataset(threads)
        if processes > 0:
            from absl import flags

            if not flags.FLAGS.is_parsed():  # grain's workers read its absl flags (defaults)
                flags.FLAGS.mark_as_parsed()
            data = data.mp_prefetch(
                grain.MultiprocessingOptions(num_workers=processes, per_worker_buffer_size=prefetch)
            )
        return iter(data)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self.batch(self.epoch, i)

    def on_epoch_end(self) -> None:
        self.epoch += 1
