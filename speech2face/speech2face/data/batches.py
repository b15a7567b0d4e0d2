"""Shuffled training batches of a prepared dataset, and the waveform augmentation.

``SegmentBatches`` follows the ``keras.utils.PyDataset`` protocol (``__len__``,
``__getitem__``, ``on_epoch_end``) without importing Keras, so the same batches feed Keras
on TensorFlow, JAX or PyTorch, and streams the batches of a range of steps with parallel
readers and prefetch (:meth:`SegmentBatches.stream`, on grain).
"""

from __future__ import annotations

import numpy as np

from speech2face.dataset.shards import decode_audio
from speech2face.errors import UserError
from speech2face.speech2face.data.reader import Dataset

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
