"""Read a Wav2Pix pair dataset (``pairs.json`` + shards): faces, pairs and batches.

TensorFlow-free: batches are dicts of numpy arrays. The batch of global training step g is
a pure function of (seed, g): the pair order of data epoch e is a permutation drawn from
(seed, e) and the mismatched ("wrong") faces of step g are drawn from (seed, g), so a
resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.errors import UserError
from speech2face.wav2pix.config import WINDOW
from speech2face.wav2pix.pair_shards import MANIFEST
from speech2face.wav2pix.pairs import scale_and_emphasize


def resize_faces(images: np.ndarray, size: int) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, size, size, 3) uint8 (pixel-area averaging to shrink)."""
    import cv2

    images = np.asarray(images)
    if images.shape[1] == size:
        return images
    interp = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_CUBIC
    out = np.zeros((len(images), size, size, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = cv2.resize(im, (size, size), interpolation=interp)
    return out


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [-1, 1] (the generator's tanh range)."""
    return np.asarray(images, np.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] -> uint8 in [0, 255], rounded."""
    return (np.clip((np.asarray(images, np.float32) + 1.0) * 127.5, 0, 255) + 0.5).astype(np.uint8)


class PairDataset:
    """A folder written by ``speech2face wav2pix prepare``.

    The same guarantees as the Speech2Face :class:`~speech2face.speech2face.data.reader.Dataset`:
    every shard path recorded in ``pairs.json`` must stay inside the folder, its size is
    checked when the folder opens and its sha256 before it is first read, and a shard that
    fails while being read names itself and what to do.

    Attributes:
        root (Path), manifest (dict, the parsed ``pairs.json``), shards (list of Path).
    Raises:
        UserError: no ``pairs.json`` in the folder, or a listed shard is missing.
        DamagedFileError: ``pairs.json`` is unreadable or names a file outside the folder,
            or a shard differs from its record.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise UserError(
                f"{self.root}: not a Wav2Pix pair dataset (no {MANIFEST}); "
                "build one with `speech2face wav2pix prepare`"
            )
        self.remedy = (
            f"re-run `speech2face wav2pix prepare` with `-o {self.root}` (same source and "
            "options) to rebuild it"
        )
        with integrity.reading(path, self.remedy, "pair dataset manifest"):
            self.manifest = json.loads(path.read_text())
            self.shards = [integrity.inside(self.root, s["file"]) for s in self.manifest["shards"]]
            self.image_size = int(self.manifest["config"]["image_size"])
        for shard in self.shards:
            if not shard.is_file():
                raise UserError(f"{shard}: shard listed in {path} is missing")
        for shard, rec in zip(self.shards, self.manifest["shards"], strict=True):
            integrity.check(shard, rec, self.remedy, what="pairs shard", full=False)

    def identities(self, split: str | None = None) -> list[str]:
        """Sorted identity names having pairs in ``split`` (all when None)."""
        ids = self.manifest["identities"]
        return sorted(k for k, v in ids.items() if split is None or v["pairs"].get(split))

    def splits(self) -> list[str]:
        """Split names present ("train", "test_seen", "test")."""
        return list(self.manifest["counts"])

    def load(self, split: str | None = None, audio: bool = True) -> dict[str, np.ndarray]:
        """Every face and pair of a split, in memory.

        Returns:
            {"face": (F, S, S, 3) uint8, "identity", "clip", "gender", "split": (F,) str,
            "time": (F,) float64 s, "audio": (P, 16000) int16 (when ``audio``),
            "pair_face": (P,) int64 row into the faces, "audio_start": (P,) float64 s}.
        """
        import h5py

        parts = {k: [] for k in ("face", "identity", "clip", "gender", "split", "time")}
        pair_face, audio_rows, starts = [], [], []
        n_faces = 0
        for shard, rec in zip(self.shards, self.manifest["shards"], strict=True):
            integrity.check(shard, rec, self.remedy, what="pairs shard")  # sha256, once
            with integrity.reading(shard, self.remedy, "pairs shard"), h5py.File(shard, "r") as f:
                split_of = np.array([x.decode() for x in f["face_split"][:]], object)
                keep = np.flatnonzero(split_of == split) if split else np.arange(len(split_of))
                if not len(keep):
                    continue
                new_index = np.full(len(split_of), -1)
                new_index[keep] = n_faces + np.arange(len(keep))
                parts["face"].append(f["face"][:][keep])
                for name in ("identity", "clip", "gender", "split"):
                    values = np.array([x.decode() for x in f["face_" + name][:]], object)
                    parts[name].append(values[keep])
                parts["time"].append(f["face_time"][:][keep])
                pf = f["pair_face"][:]
                rows = np.flatnonzero(new_index[pf] >= 0)
                pair_face.append(new_index[pf[rows]])
                starts.append(f["audio_start"][:][rows])
                if audio:
                    audio_rows.append(f["audio"][:][rows] if len(rows) else np.zeros((0, WINDOW)))
                n_faces += len(keep)
        s = self.image_size
        out = {
            "face": np.concatenate(parts["face"]) if n_faces else np.zeros((0, s, s, 3), np.uint8),
            "time": np.concatenate(parts["time"]) if n_faces else np.zeros(0),
            "pair_face": np.concatenate(pair_face).astype(np.int64)
            if n_faces
            else np.zeros(0, int),
            "audio_start": np.concatenate(starts) if n_faces else np.zeros(0),
        }
        for name in ("identity", "clip", "gender", "split"):
            out[name] = np.concatenate(parts[name]) if n_faces else np.zeros(0, object)
        if audio:
            out["audio"] = (
                np.concatenate(audio_rows).astype(np.int16)
                if n_faces
                else np.zeros((0, WINDOW), np.int16)
            )
        return out


class PairBatches:
    """Training batches addressed by global step, from the pairs of one split in memory.

    Args:
        data: :meth:`PairDataset.load` output of the training split.
        identities: the classifier's identity names (label i = identities[i]).
        batch_size: pairs per step (a full batch at every step; epochs reshuffle).
        image_size: 64 or 128 (faces are resized once).
        seed: the data seed.
        balanced: draw each pair by first drawing an identity uniformly (every identity is
            seen equally often whatever its amount of speech) instead of the authors'
            shuffled passes over the pairs.
    Raises:
        UserError: no pairs, fewer than two identities, or a pair of an unknown identity.
    """

    def __init__(
        self,
        data: dict,
        identities: list[str],
        batch_size: int,
        image_size: int,
        seed: int = 0,
        balanced: bool = False,
    ):
        if not len(data["pair_face"]):
            raise UserError("no training pairs")
        if len(identities) < 2:
            raise UserError(f"Wav2Pix needs two or more training identities, got {identities}")
        lookup = {name: i for i, name in enumerate(identities)}
        missing = sorted(set(data["identity"]) - set(lookup))
        if missing:
            raise UserError(f"pairs of identities unknown to the model: {missing[:5]}")
        self.faces = to_unit(resize_faces(data["face"], image_size))
        self.face_label = np.array([lookup[x] for x in data["identity"]], np.int32)
        self.audio = data["audio"]
        self.pair_face = data["pair_face"]
        self.n = len(self.pair_face)
        self.batch_size = min(batch_size, self.n)
        self.steps_per_epoch = max(1, self.n // self.batch_size)
        self.seed = seed
        self.balanced = balanced
        pair_label = self.face_label[self.pair_face]
        self.by_identity = [np.flatnonzero(pair_label == i) for i in np.unique(pair_label)]

    def rows(self, step: int) -> np.ndarray:
        """Pair rows of global step ``step``."""
        if self.balanced:
            rng = np.random.default_rng([self.seed, step, 2])
            groups = rng.integers(0, len(self.by_identity), self.batch_size)
            return np.array([rng.choice(self.by_identity[g]) for g in groups])
        epoch, pos = divmod(step, self.steps_per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return perm[pos * self.batch_size : (pos + 1) * self.batch_size]

    def wrong_faces(self, step: int, labels: np.ndarray) -> np.ndarray:
        """A random face of another identity for each label (rows into ``faces``)."""
        rng = np.random.default_rng([self.seed, step, 1])
        picks = rng.integers(0, len(self.faces), len(labels))
        clash = self.face_label[picks] == labels
        while clash.any():
            picks[clash] = rng.integers(0, len(self.faces), int(clash.sum()))
            clash = self.face_label[picks] == labels
        return picks

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        """The batch of global step ``step``: {"audio": (B, 16000) float32 (preprocessed),
        "real": (B, S, S, 3) float32 in [-1, 1], "wrong": same, "label": (B,) int32}."""
        rows = self.rows(step)
        faces = self.pair_face[rows]
        labels = self.face_label[faces]
        return {
            "audio": scale_and_emphasize(self.audio[rows]),
            "real": self.faces[faces],
            "wrong": self.faces[self.wrong_faces(step, labels)],
            "label": labels,
        }
