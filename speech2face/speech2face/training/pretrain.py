"""Pretrain the voice encoder as a speaker classifier: `speech2face pretrain`.

Voice-only recordings (LibriSpeech, VCTK, ...) teach the voice encoder what tells voices
apart before it learns faces. The encoder of Table 1 (Oh et al., CVPR 2019) is trained with a
softmax over the speakers in place of its last layer (``fc2`` gives the logits): the field's
standard route to a voice embedding (Wen et al., NeurIPS 2019 train theirs this way; Nagrani
et al. 2018 likewise). ``speech2face train --init RUN`` then starts from every layer but
``fc2``. Speech2Face itself trains from scratch on VoxCeleb's 100 k+ speakers; with a few
dozen identities the pretrained encoder is what lets a face follow an unseen voice.

A run folder holds ``windows.h5`` (the 6 s windows, a cache keyed on the sources),
``voice_encoder.json`` + ``.weights.h5``, ``speakers.json``, ``pretrain.json`` (options and
figures), ``history.csv`` and ``checkpoint/`` (resumes exactly, as ``train`` does).

``target="ge2e"`` distils the pretrained GE2E speaker encoder (:mod:`speech2face.voices`)
into the CNN instead: ``fc2`` (256 units) regresses each window's GE2E embedding with a
cosine loss, so the CNN learns the voice space of ~8,400 speakers from a few dozen.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from speech2face import audio, integrity
from speech2face.dataset.shards import decode_audio, encode_audio
from speech2face.errors import UserError
from speech2face.speech2face.training.config import PretrainConfig

log = logging.getLogger(__name__)

VOICE = "voice_encoder"  # <stem>.json + <stem>.weights.h5
SPEAKERS = "speakers.json"
INFO = "pretrain.json"
WINDOWS = "windows.h5"
HEAD = ("fc2", "feature_scale")  # layers that `train --init` does not copy


def _source_windows(source: Path, config: PretrainConfig):
    """(int16 windows, speakers, recordings) of one source: a dataset folder or speech."""
    from speech2face.dataset.shards import MANIFEST
    from speech2face.dataset.sources.speech import speech_files
    from speech2face.speech2face.data.reader import Dataset
    from speech2face.speech2face.data.segments import SegmentConfig

    if source.is_dir() and (source / MANIFEST).is_file():  # a prepared dataset: its train split
        data = Dataset(source).load("train", ("audio", "identity", "clip"))
        return list(data["audio"]), [str(x) for x in data["identity"]], list(data["clip"])
    waves, names, recordings = [], [], []
    files = speech_files(source, tuple(config.splits.split(",")))
    for file, speaker in files:
        try:
            wave = audio.load_audio(file)
        except audio.AudioError as exc:
            log.warning("skipped %s", exc)
            continue
        for window in audio.windows(wave, hop_seconds=config.hop_seconds):
            if audio.rms(window) >= SegmentConfig.min_rms:  # prepare's silence threshold
                waves.append(encode_audio(window))
                names.append(speaker)
                recordings.append(str(file))
    return waves, names, recordings


def speaker_windows(sources, out: Path, config: PretrainConfig) -> dict[str, np.ndarray]:
    """The 6 s windows of every speaker of the sources, cached in ``out/windows.h5``.

    Args:
        sources: manifest CSVs or folders ``<speaker>/<file>`` of voice-only recordings,
            and/or dataset folders from `prepare` (their train split, labelled by identity).
    Returns:
        {"audio": (N, 96000) int16, "speaker": (N,) str, "recording": (N,) str (the file or
        clip each window comes from)}.
    Raises:
        UserError: a source cannot be read, or no window was found.
    """
    import h5py

    key = json.dumps(
        {
            "format": 1,
            "sources": [str(Path(s).resolve()) for s in sources],
            "hop": config.hop_seconds,
            "splits": config.splits,
        }
    )
    cache = out / WINDOWS
    if cache.is_file():
        try:
            with h5py.File(cache, "r") as f:
                if f.attrs.get("key") == key:
                    return {
                        "audio": f["audio"][:],
                        "speaker": f["speaker"][:].astype(str),
                        "recording": f["recording"][:].astype(str),
                    }
        except (OSError, KeyError, ValueError) as exc:  # a damaged cache is rebuilt
            log.warning("%s is unreadable (%s); rebuilding it", cache, exc)
    waves, names, recordings = [], [], []
    for source in sources:
        w, n, r = _source_windows(Path(source), config)
        waves += w
        names += n
        recordings += r
    if not waves:
        raise UserError(f"no speech windows in {', '.join(map(str, sources))}")
    data = {
        "audio": np.stack(waves).astype(np.int16),
        "speaker": np.asarray(names, dtype=str),
        "recording": np.asarray(recordings, dtype=str),
    }
    tmp = cache.with_name(cache.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("audio", data=data["audio"])
        f.create_dataset("speaker", data=list(names), dtype=h5py.string_dtype())
        f.create_dataset("recording", data=list(recordings), dtype=h5py.string_dtype())
        f.attrs["key"] = key
    os.replace(tmp, cache)
    return data


def held_out(speakers: np.ndarray, recordings: np.ndarray) -> np.ndarray:
    """(N,) bool: every window of the last recording of each speaker who has two or more,
    kept out of training to measure how well the classifier generalises to unheard speech.
    Whole recordings, because windows of one recording overlap (the hop is shorter than 6 s).
    """
    mask = np.zeros(len(speakers), bool)
    for speaker in np.unique(speakers):
        mine = speakers == speaker
        names = sorted(set(recordings[mine]))
        if len(names) >= 2:
            mask |= mine & (recordings == names[-1])
    return mask


class WindowBatches:
    """Batches of global step ``start + i`` (``keras.utils.PyDataset`` protocol, no Keras
    import): a pure function of the step and the seed, so a resumed run is exact.

    Yields (waveforms (B, 96000) float32, speaker labels (B,) int32 or target embeddings
    (B, E) float32), augmented
    (:func:`speech2face.speech2face.data.batches.augment_waveforms`) when asked.
    """

    def __init__(self, waves, labels, batch_size, seed, start, total, augment):
        self.waves, self.labels = waves, labels
        self.batch_size = min(batch_size, len(labels))
        self.seed, self.start, self.total, self.augment = seed, start, total, augment
        self.per_epoch = max(1, len(labels) // self.batch_size)

    def __len__(self):
        return self.total - self.start

    def __getitem__(self, i):
        from speech2face.speech2face.data.batches import augment_waveforms

        epoch, position = divmod(self.start + i, self.per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))
        pick = np.sort(order[position * self.batch_size : (position + 1) * self.batch_size])
        waves = decode_audio(self.waves[pick])
        if self.augment:
            waves = augment_waveforms(waves, np.random.default_rng([self.seed, epoch, position]))
        labels = self.labels[pick]  # speaker numbers, or GE2E embeddings (distillation)
        return waves, labels.astype(np.int32 if labels.ndim == 1 else np.float32)

    def on_epoch_end(self):
        pass


def _as_pydataset(batches: WindowBatches):
    import keras

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    return _Batches()


def pretrain(sources, out, config: PretrainConfig | None = None):
    """Train (or resume) the voice encoder as a speaker classifier; write the run folder.

    Args:
        sources: see :func:`speaker_windows`. out: the run folder.
    Returns:
        {"speakers", "windows", "heldout_accuracy", "heldout_windows", "chance"}: the figures
        also written to ``out/pretrain.json``.
    Raises:
        UserError: unreadable sources, fewer than 2 speakers, an unknown target.
    """
    import keras

    from speech2face.models import save_parts
    from speech2face.speech2face.training.batchnorm import precise_batchnorm

    config = config or PretrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = speaker_windows(list(sources), out, config)
    speakers, labels, targets, test = _speaker_targets(data, config)
    train_waves, train_targets = data["audio"][~test], targets[~test]
    keras.utils.set_random_seed(config.seed)
    distil = config.target == "ge2e"
    model = _compiled_encoder(targets.shape[1] if distil else len(speakers), config)
    what = "to the GE2E embeddings of" if distil else "as a classifier of"
    steps = _fit(
        model,
        train_waves,
        train_targets,
        out,
        config,
        f"pretrain voice encoder ({config.preset}) {what} {len(speakers)} speakers: "
        f"{len(train_targets)} training windows ({test.sum()} of unheard recordings held out)",
    )
    # BatchNorm statistics of the final weights, on at most 800 unaugmented training windows
    pick = np.random.default_rng(config.seed).permutation(len(train_targets))[:800]
    precise_batchnorm(
        model,
        (decode_audio(train_waves[np.sort(pick[i : i + 16])]) for i in range(0, len(pick), 16)),
    )
    figures = {
        "speakers": len(speakers),
        "windows": int(len(labels)),
        "heldout_windows": int(test.sum()),
        "heldout_accuracy": None,
        "chance": 1.0 / len(speakers),
    }
    if test.any():
        figures["heldout_accuracy"] = _heldout_accuracy(model, data["audio"], labels, targets, test)
        print(
            f"speaker accuracy on {test.sum()} held-out windows: "
            f"{figures['heldout_accuracy']:.3f} (chance {figures['chance']:.3f})"
        )
    save_parts(model, out, VOICE)
    (out / SPEAKERS).write_text(json.dumps(speakers))
    info = {"config": asdict(config), "sources": [str(s) for s in sources], "steps": steps}
    info["files"] = integrity.records(out, (f"{VOICE}.json", f"{VOICE}.weights.h5"))
    (out / INFO).write_text(json.dumps({**info, **figures}, indent=1))
    return figures


def _speaker_targets(data: dict, config: PretrainConfig):
    """(speakers, labels (W,) int, targets, held-out mask (W,)) of the windows: targets are
    the labels, or (W, 256) GE2E embeddings for ``target="ge2e"``.

    Raises:
        UserError: fewer than 2 speakers, or an unknown target.
    """
    speakers = sorted(set(data["speaker"]))
    if len(speakers) < 2:
        raise UserError(f"pretraining needs at least 2 speakers, found {len(speakers)}")
    if config.target not in ("speaker", "ge2e"):
        raise UserError(f"unknown pretraining target {config.target!r}: use speaker or ge2e")
    labels = np.searchsorted(speakers, data["speaker"])
    test = held_out(data["speaker"], data["recording"])
    targets = _ge2e_targets(data["audio"]) if config.target == "ge2e" else labels
    return speakers, labels, targets, test


def _compiled_encoder(outputs: int, config: PretrainConfig):
    """The Table 1 voice encoder with ``outputs`` units, compiled for the target: the
    paper's Adam with a softmax cross-entropy (speakers) or a cosine loss (GE2E)."""
    import keras

    from speech2face.speech2face.models.voice_encoder import build_voice_encoder

    distil = config.target == "ge2e"
    model = build_voice_encoder(outputs, config.preset)
    model.compile(
        keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1, epsilon=config.epsilon),
        loss=keras.losses.CosineSimilarity()
        if distil
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[] if distil else ["accuracy"],
    )
    return model


def _fit(model, waves, targets, out: Path, config: PretrainConfig, what: str) -> int:
    """Train for ``config.steps`` (rounded up to whole checkpoints), resuming from
    ``out/checkpoint`` at the last checkpoint; returns the steps of the run."""
    import keras

    from speech2face.training.checkpoint import Checkpoint, restore

    per_epoch = min(config.checkpoint_every, config.steps)
    n_epochs = math.ceil(config.steps / per_epoch)
    steps = n_epochs * per_epoch
    epochs_done = restore(model, out / "checkpoint")  # checkpoints written, each per_epoch steps
    print(
        f"{what}, batch {config.batch_size}, {steps} steps"
        + (f"; resuming at step {epochs_done * per_epoch}" if epochs_done else "")
    )
    if epochs_done >= n_epochs:
        return steps
    batches = WindowBatches(
        waves,
        targets,
        config.batch_size,
        config.seed,
        epochs_done * per_epoch,
        steps,
        config.augment,
    )
    model.fit(
        _as_pydataset(batches),
        epochs=n_epochs,
        steps_per_epoch=per_epoch,
        initial_epoch=epochs_done,
        shuffle=False,
        callbacks=[
            keras.callbacks.TerminateOnNaN(),
            Checkpoint(out / "checkpoint"),
            keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        ],
        verbose="auto",
    )
    return steps


def _heldout_accuracy(model, audio, labels, targets, test) -> float:
    """Speaker accuracy on the held-out windows: the classifier's argmax, or for a GE2E
    student the nearest speaker by cosine to the speakers' mean GE2E embeddings."""
    logits = model.predict(decode_audio(audio[test]), batch_size=16, verbose=0)
    if targets.ndim == 2:
        seen, dim = labels[~test], targets.shape[1]
        centroids = np.stack(
            [
                targets[~test][seen == k].mean(0) if np.any(seen == k) else np.zeros(dim)
                for k in range(labels.max() + 1)
            ]
        )
        logits = _unit(logits) @ _unit(centroids).T
    return float(np.mean(logits.argmax(1) == labels[test]))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def _ge2e_targets(windows_int16: np.ndarray) -> np.ndarray:
    """(N, 256) float32 GE2E embeddings of the 6 s windows (the distillation targets)."""
    from speech2face import voices

    window = voices.get("ge2e").window_model(audio.N_SAMPLES)
    return voices.embed_windows(window, decode_audio(windows_int16), progress=True)


def init_from_pretrained(model, run: str | os.PathLike) -> int:
    """Copy the weights of a `pretrain` run into ``model``, every layer but the head.

    Args:
        model: a voice encoder
        (:func:`~speech2face.speech2face.models.voice_encoder.build_voice_encoder`)
            of the same preset. run: the pretrain run folder.
    Returns:
        The number of layers copied.
    Raises:
        UserError: not a pretrain run, or one of another preset (shapes differ).
        DamagedFileError: its weights or architecture are damaged or foreign.
    """
    from speech2face.models import load_parts

    run = Path(run)
    if not (run / f"{VOICE}.weights.h5").is_file():
        raise UserError(
            f"{run}: not a pretrain run (no {VOICE}.weights.h5); run `speech2face pretrain`"
        )
    fix = f"re-run `speech2face pretrain` with `-o {run}` to rewrite it"
    integrity.check_recorded(run, INFO, fix, "pretrain run file")
    source = load_parts(run, VOICE, fix)
    copied = 0
    for layer in model.layers:
        if layer.name in HEAD or not layer.weights:
            continue
        weights = source.get_layer(layer.name).get_weights()
        if [w.shape for w in weights] != [tuple(w.shape) for w in layer.weights]:
            raise UserError(
                f"{run}: layer {layer.name} has other shapes than this voice encoder; "
                "pretrain with the same --preset"
            )
        layer.set_weights(weights)
        copied += 1
    return copied
