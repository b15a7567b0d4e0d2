"""Read a prepared dataset: manifest, identities, segments and shuffled batches (h5py only).

TensorFlow-free: batches are dicts of numpy arrays, so the same reader feeds Keras on
TensorFlow, JAX or PyTorch. ``SegmentBatches`` follows the ``keras.utils.PyDataset``
protocol (``__len__``, ``__getitem__``, ``on_epoch_end``) without importing Keras.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import integrity
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


class Dataset:
    """A dataset folder written by ``speech2face prepare``.

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
            ``audio`` as int16 (:func:`speech2face.dataset.shards.decode_audio` gives float).
        """
        import h5py

        out = {name: [None] * len(rows) for name in fields}
        by_shard: dict[int, list[tuple[int, int]]] = {}
        for pos, (s, r) in enumerate(rows):
            by_shard.setdefault(s, []).append((pos, r))
        for s, items in by_shard.items():
            with self._reading(s), h5py.File(self.shards[s], "r") as f:
                order = sorted(items, key=lambda x: x[1])
                wanted = [r for _, r in order]
                for name in fields:
                    data = (
                        f[name][wanted]
                        if len(set(wanted)) == len(wanted)
                        else np.stack([f[name][r] for r in wanted])
                    )
                    for (pos, _), value in zip(order, data, strict=True):
                        out[name][pos] = value.decode() if isinstance(value, bytes) else value
        return {
            k: np.asarray(v, dtype=object if isinstance(v[0], str) else None) if v else np.zeros(0)
            for k, v in out.items()
        }

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
    shifts = rng.integers(0, waves.shape[1], len(waves))
    gains = 10.0 ** (rng.uniform(-MAX_GAIN_DB, MAX_GAIN_DB, len(waves)) / 20.0)
    out = np.stack([np.roll(w, s) for w, s in zip(waves, shifts, strict=True)])
    return np.clip(out * gains[:, None].astype(np.float32), -1.0, 1.0)


class SegmentBatches:
    """Shuffled batches of one split, in the ``keras.utils.PyDataset`` protocol.

    The order of epoch ``e`` is a permutation drawn from ``seed + e``, so a resumed run
    sees exactly the batches it would have seen (training resumes "data order").

    Args:
        dataset: a :class:`Dataset`. split: "train", "test" or None for all.
        batch_size: segments per batch; the last short batch is dropped when
            ``drop_last`` (default) so every step has the same shape.
        fields: which fields a batch holds.
        augment: apply :func:`augment_waveforms` to ``audio``, with a generator seeded by
            (seed, epoch, batch index), so an augmented batch is still a pure function of
            the step and the seed.
    Yields (``__getitem__``):
        dict of arrays: ``audio`` becomes float32 (B, 96000) waveforms.
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
    ):
        self.dataset = dataset
        self.rows = dataset.index(split)
        if not self.rows:
            raise UserError(f"{dataset.root}: no segments in split {split!r}")
        self.batch_size = min(batch_size, len(self.rows))
        self.fields = tuple(fields)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.augment = augment
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.rows) / self.batch_size
        return int(n) if self.drop_last else int(np.ceil(n))

    def order(self, epoch: int) -> list[tuple[int, int]]:
        """(shard, row) of every segment in the order of ``epoch`` (a seeded permutation)."""
        if not self.shuffle:
            return list(self.rows)
        perm = np.random.default_rng(self.seed + epoch).permutation(len(self.rows))
        return [self.rows[i] for i in perm]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        rows = self.order(self.epoch)[i * self.batch_size : (i + 1) * self.batch_size]
        batch = self.dataset.read(rows, self.fields)
        if "audio" in batch:
            batch["audio"] = decode_audio(batch["audio"])
            if self.augment:
                rng = np.random.default_rng([self.seed, self.epoch, i])
                batch["audio"] = augment_waveforms(batch["audio"], rng)
        return batch

    def on_epoch_end(self) -> None:
        self.epoch += 1
