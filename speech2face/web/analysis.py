"""What the web page shows for one recording, without the page: the voice read and checked,
the face each system predicts, the spectrogram picture, the voice-pitch reading and the
nearest identities of a gallery.

Each system is a :class:`Predictor` (waveform -> face), all made by :func:`load_predictors`,
the one place where a system plugs in. Everything a request needs is built before the server
starts and only read afterwards, so several users at once cannot mix results.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speech2face import audio
from speech2face.errors import UserError

log = logging.getLogger(__name__)

MIN_SECONDS = 0.5  # shorter recordings are refused
MAX_SECONDS = 600.0  # longer ones too (10 min: 100 windows of 6 s)
PITCH_SECONDS = 30.0  # median F0 is read on the first 30 s (pyin: ~0.1 s per second of audio)
PITCH_SEGMENTS_PER_GENDER = 12  # train segments per gender that fit the pitch threshold
NEAREST = 5  # identities shown from the gallery

Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is being done)


@dataclass(frozen=True)
class Predictor:
    """One voice-to-face system shown on the page.

    Attributes:
        name: the label of its face picture.
        predict: ``predict(waveform, progress) -> (face, feature)``: a (n,) float32 16 kHz
            waveform of any length -> an (S, S, 3) uint8 face and, when the system predicts
            a face feature (the dataset's face feature space, which the gallery search
            needs), that (dim,) float32 vector, else None. ``progress(fraction, text)``
            reports the windows done.
        feature_dim: the size of that face feature (None: the system predicts none).
        trained_on: the dataset folder the system was trained on, when known.
    """

    name: str
    predict: Callable[[np.ndarray, Progress], tuple[np.ndarray, np.ndarray | None]]
    feature_dim: int | None = None
    trained_on: str | None = None


def speech2face_predictor(model) -> Predictor:
    """The predictor of a loaded :class:`speech2face.Speech2Face` bundle.

    As ``model.predict`` (:meth:`Speech2Face.voice_feature`: the bundle's front end, 6 s
    windows, a shorter one loop-padded, features averaged in float64, the mean rendered);
    the windows go one at a time, so the page can show progress.
    """

    def predict(wave: np.ndarray, progress: Progress) -> tuple[np.ndarray, np.ndarray]:
        wave = model.front_end(wave)
        total = audio.window_count(wave.size)

        def report(done: int, total: int) -> None:  # before each window, as the page shows
            if done < total:
                progress(done / total, f"Speech2Face: 6 s window {done + 1} of {total}")

        report(0, total)
        feature = model.voice_feature(wave, batch_size=1, progress=report, front_end=False)
        return model.render(feature[None])[0], feature

    return Predictor(
        "Speech2Face", predict, int(model.config["feature_dim"]), model.config.get("dataset")
    )


def wav2pix_predictor(model) -> Predictor:
    """The predictor of a loaded :class:`speech2face.Wav2Pix` run: its ``prediction`` (1 s
    windows, their speech embeddings averaged, the mean generated); returns (face, None),
    since the 128-D embedding is not a face feature and takes no part in the gallery
    search."""

    def predict(wave: np.ndarray, progress: Progress) -> tuple[np.ndarray, None]:
        progress(0.0, f"Wav2Pix: {len(model.windows(wave))} windows of 1 s")
        return model.prediction(wave, name="the recording").image, None

    return Predictor("Wav2Pix", predict, None, model.config.get("dataset"))


def load_predictors(
    bundle: str | os.PathLike, wav2pix: str | os.PathLike | None = None
) -> list[Predictor]:
    """Every system the page shows, in order: the one place where a system plugs in.

    Args:
        bundle: a Speech2Face bundle folder (`speech2face train`).
        wav2pix: optional Wav2Pix run folder (`speech2face wav2pix train`).
    Returns:
        [Speech2Face predictor] (+ [Wav2Pix predictor]).
    Raises:
        UserError: the bundle or the run cannot be loaded.
    """
    from speech2face import Speech2Face, Wav2Pix

    predictors = [speech2face_predictor(Speech2Face.load(bundle))]
    if wav2pix is not None:  # the page gives every predictor its own picture
        predictors.append(wav2pix_predictor(Wav2Pix.load(wav2pix)))
    return predictors


@dataclass(frozen=True)
class Gallery:
    """The identities of a dataset as a retrieval gallery, each with one real face.

    Attributes:
        identities: (N,) identity names, sorted.
        features: (N, dim) float32 per-identity mean face features of the segments.
        faces: (N, 224, 224, 3) uint8 aligned face crops, one segment per identity.
        root: the dataset folder.
    """

    identities: list[str]
    features: np.ndarray
    faces: np.ndarray
    root: Path

    @classmethod
    def from_dataset(cls, dataset, split: str | None = None) -> Gallery:
        """Build the gallery of a :class:`speech2face.speech2face.data.reader.Dataset` (a split, or
        all).

        Raises:
            UserError: the dataset has no segments in that split.
        """
        rows = dataset.index(split)
        if not rows:
            raise UserError(f"{dataset.root}: no segments in split {split or 'any'!r}")
        seg = dataset.read(rows, ("identity", "feature"))
        ids = np.asarray(seg["identity"])
        names = sorted(set(ids))
        means = np.stack([seg["feature"][ids == n].mean(0) for n in names]).astype(np.float32)
        first = [rows[int(np.flatnonzero(ids == n)[0])] for n in names]
        faces = dataset.read(first, ("face",))["face"]
        return cls(names, means, faces, Path(dataset.root))

    def nearest(self, feature: np.ndarray, k: int = NEAREST) -> list[tuple[str, float, np.ndarray]]:
        """The k identities whose mean face feature is nearest to a (dim,) face feature.

        Returns:
            [(identity, cosine similarity, (224, 224, 3) uint8 face)], most similar first.
        Raises:
            ValueError: the feature's dimension differs from the gallery's.
        """
        from speech2face.speech2face.evaluation.retrieval import distances

        feature = np.asarray(feature, np.float32).reshape(1, -1)
        if feature.shape[1] != self.features.shape[1]:
            raise ValueError(
                f"{feature.shape[1]}-D face feature, the gallery of {self.root} holds "
                f"{self.features.shape[1]}-D features"
            )
        cos = 1.0 - distances(feature, self.features, "cosine")[0]
        order = np.argsort(-cos, kind="stable")[:k]
        return [(self.identities[i], float(cos[i]), self.faces[i]) for i in order]


@dataclass(frozen=True)
class PitchThreshold:
    """The voice-pitch gender baseline: median F0 above ``hz`` reads as "F", else "M".

    Attributes:
        hz: the threshold in Hz. segments: train segments it was fitted on. root: dataset.
    """

    hz: float
    segments: int
    root: Path

    @classmethod
    def fit(
        cls, dataset, per_gender: int = PITCH_SEGMENTS_PER_GENDER, seed: int = 0
    ) -> PitchThreshold | None:
        """Fit on up to ``per_gender`` train segments of each gender (seeded choice).

        The threshold best separating their median F0 (as in `evaluate`'s pitch baseline).
        Returns None when the train split lacks voices of either gender.
        """
        from speech2face.dataset.shards import decode_audio
        from speech2face.speech2face.evaluation.attributes import best_threshold, median_f0

        rows = dataset.index("train")
        if not rows:
            return None
        genders = np.asarray(dataset.read(rows, ("gender",))["gender"])
        rng = np.random.default_rng(seed)
        chosen = []
        for gender in ("M", "F"):
            idx = np.flatnonzero(genders == gender)
            if not idx.size:
                return None
            chosen += sorted(rng.choice(idx, min(per_gender, idx.size), replace=False))
        seg = dataset.read([rows[i] for i in chosen], ("audio", "gender"))
        f0 = np.array([median_f0(w) for w in decode_audio(seg["audio"])])
        return cls(best_threshold(f0, seg["gender"]), len(chosen), Path(dataset.root))


def read_voice(
    path: str | os.PathLike, name: str | None = None, max_seconds: float = MAX_SECONDS
) -> np.ndarray:
    """Read an uploaded or recorded file as a waveform fit for the page.

    Args:
        path: any audio or video file FFmpeg reads.
        name: the file name shown in messages (default: the file's own name).
        max_seconds: longest accepted recording.
    Returns:
        (n,) float32 16 kHz waveform, MIN_SECONDS <= n / 16000 <= max_seconds.
    Raises:
        UserError: one line naming the file and the cause: not media (FFmpeg cannot open
            it), no audio track, too long, too short, or silent (RMS below the silence
            threshold of `prepare`, ``SegmentConfig.min_rms``).
    """
    from speech2face.speech2face.data.segments import SegmentConfig

    path = Path(path)
    name = name or path.name
    seconds = _probe(path, name)
    if seconds is not None and seconds > max_seconds + 1:  # refused before decoding
        raise _too_long(name, seconds, max_seconds)
    try:
        wave = audio.load_audio(path)
    except UserError as exc:
        raise UserError(str(exc).replace(str(path), name)) from None
    seconds = wave.size / audio.SAMPLE_RATE
    if seconds > max_seconds:
        raise _too_long(name, seconds, max_seconds)
    if seconds < MIN_SECONDS:
        raise UserError(f"{name}: too short ({seconds:.2f} s; at least {MIN_SECONDS} s of speech)")
    level, silence = audio.rms(wave), SegmentConfig.min_rms
    if level < silence:
        raise UserError(f"{name}: silent (RMS {level:.5f}, below the threshold {silence})")
    return wave


def _too_long(name: str, seconds: float, max_seconds: float) -> UserError:
    return UserError(f"{name}: too long ({seconds / 60:.1f} min; at most {max_seconds / 60:g} min)")


def _probe(path: Path, name: str) -> float | None:
    """Duration in seconds from the container header (None if it does not say).

    Raises:
        UserError: FFmpeg cannot open the file, or it has no audio track.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError):
        raise UserError(f"{name}: not an audio or video file (FFmpeg cannot read it)") from None
    with container:
        if not container.streams.audio:
            raise UserError(f"{name}: no audio track (not an audio or video file with sound)")
        return container.duration / av.time_base if container.duration else None


def pitch_reading(wave: np.ndarray, threshold: PitchThreshold | None) -> str:
    """A line of Markdown: the median F0 (Hz) of the voiced frames of the first PITCH_SECONDS
    of a 16 kHz waveform, and the gender the pitch alone gives when a threshold is known."""
    from speech2face.speech2face.evaluation.attributes import median_f0

    head = wave[: int(PITCH_SECONDS * audio.SAMPLE_RATE)]
    where = f" of the first {PITCH_SECONDS:g} s" if head.size < wave.size else ""
    f0 = median_f0(head)
    if not np.isfinite(f0):
        return f"**Voice pitch**: no voiced frames found{where} (median F0 undefined)."
    text = f"**Voice pitch**: median F0{where} {f0:.0f} Hz"
    if threshold is None:
        return text + " (no pitch-gender threshold: no dataset with train voices of both genders)."
    gender = "F" if f0 > threshold.hz else "M"
    return (
        f"{text} -> **{gender}** by pitch alone (F above {threshold.hz:.0f} Hz, the threshold "
        f"fitted on {threshold.segments} train segments of `{threshold.root.name}`)."
    )


def spectrogram_picture(wave: np.ndarray, title: str) -> np.ndarray:
    """(H, W, 3) uint8 picture of the compressed spectrogram of a (96000,) window."""
    from PIL import Image

    from speech2face.speech2face.evaluation.report import plot_spectrogram

    with tempfile.TemporaryDirectory(prefix="speech2face-serve-") as tmp:
        path = plot_spectrogram(audio.spectrogram(wave), Path(tmp) / "spectrogram.png", title)
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))


@dataclass
class Result:
    """What the page shows for one input (fresh for every request).

    Attributes:
        message: Markdown: what was read, or the one-line error.
        spectrogram: (H, W, 3) uint8 picture, or None.
        faces: one (S, S, 3) uint8 face (or None) per predictor, in order.
        pitch: Markdown line, or "".
        nearest: [((224, 224, 3) uint8 face, caption)] of the gallery's nearest identities.
    """

    message: str
    spectrogram: np.ndarray | None = None
    faces: list = field(default_factory=list)
    pitch: str = ""
    nearest: list = field(default_factory=list)


def analyse(
    path: str | os.PathLike | None,
    predictors: list[Predictor],
    gallery: Gallery | None = None,
    threshold: PitchThreshold | None = None,
    progress: Progress | None = None,
    max_seconds: float = MAX_SECONDS,
) -> Result:
    """Everything the page shows for one file; bad input gives a message, never a traceback.

    Args:
        path: the uploaded or recorded file (None: nothing given yet).
        predictors: from :func:`load_predictors`.
        gallery, threshold: optional, from the dataset.
        progress: ``progress(fraction, text)``.
    Returns:
        A :class:`Result`; on bad input only its message is set (the other outputs empty).
    """
    empty = [None] * len(predictors)
    if path is None:
        return Result("Record your voice or upload an audio or video file.", faces=empty)
    name = Path(path).name
    try:
        wave = read_voice(path, name, max_seconds)
    except UserError as exc:
        return Result(f"**Cannot use this input**: {exc}", faces=empty)
    progress = progress or (lambda fraction, text: None)
    try:
        windows = audio.windows(wave)
        seconds = wave.size / audio.SAMPLE_RATE
        faces, feature = [], None
        for predictor in predictors:
            face, feat = predictor.predict(wave, progress)
            faces.append(face)
            feature = feat if feature is None else feature
        progress(1.0, "voice pitch")
        padded = " (loop-padded)" if seconds < audio.CLIP_SECONDS else ""
        result = Result(
            f"**{name}**: {seconds:.1f} s of audio -> {len(windows)} window(s) of 6 s{padded}",
            spectrogram_picture(windows[0], f"{name}: compressed spectrogram, first 6 s window"),
            faces,
            pitch_reading(wave, threshold),
        )
        if gallery is not None and feature is not None:
            result.nearest = [
                (face, f"{identity} {cos:.2f}") for identity, cos, face in gallery.nearest(feature)
            ]
        return result
    except Exception as exc:  # the page shows one line; the log keeps the traceback
        log.exception("%s: prediction failed", name)
        return Result(f"**Prediction failed** for {name}: {type(exc).__name__}: {exc}", faces=empty)
