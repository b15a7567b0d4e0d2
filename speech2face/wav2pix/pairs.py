"""Wav2Pix pairs: 1 s of 16 kHz speech with the speaker's face near it, in HDF5 shards.

From each clip (the :class:`~speech2face.dataset.sources.Clip` records every source yields),
frames are taken ``frames_per_second`` times a second (the authors: once a second); in each
the speaker's face is found with the project's dlib detector (nearest the clip's hint, else
the largest) and cut as a square around the detection box, ``crop_scale`` times its side,
without alignment (Wav2Pix generates unaligned crops; the authors cropped the exact box of
an OpenCV Haar cascade, which is about 1.3 dlib boxes), resized to ``image_size`` px, RGB
(the authors stored BGR by mistake). For each face, ``factor`` random 1 s windows of the
clip's audio are drawn whose second lies within ``context_seconds`` (4 s) of the frame, as
the authors cut 8 s around each frame and drew random 1 s windows from them
(``scripts/data_generator/face_detector.py``, ``scripts/augmentate_data.py``); the draws are
seeded by the clip, the frame and ``seed``, so a rebuilt dataset is identical. Windows never
leave the clip's [start, end], which is how held-out time ranges keep train and test audio
apart. Silent windows and frames without a face are rejected and listed in ``failures.csv``.

Audio is stored raw (int16, full scale 32767); :func:`scale_and_emphasize` turns a window into the
encoder's input at batch time and at prediction time, so both see the same front end.

The pairs are stored by :mod:`speech2face.wav2pix.pair_shards`. This module never imports
TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from speech2face import audio, faces, video
from speech2face.dataset.shards import encode_audio
from speech2face.dataset.sources import Clip
from speech2face.wav2pix.config import PRE_EMPHASIS, WINDOW, PairConfig

log = logging.getLogger(__name__)


def scale_and_emphasize(wave: np.ndarray, coef: float = PRE_EMPHASIS) -> np.ndarray:
    """The speech encoder's front end: scale by the absolute maximum, then pre-emphasis.

    y[0] = x[0], y[n] = x[n] - coef * x[n-1], with x = wave / max|wave|, in float32.
    The authors' ``abs_normalize_wave_minmax`` divided an int32 array by an int under
    Python 2, a floor division: x became -1 where the sample was negative and 0 elsewhere
    (1 only at the maximum), so their encoder was fed a one-bit sign signal after
    pre-emphasis. This is the intended computation, in floating point.

    Args:
        wave: (..., n) waveform, any real dtype (int16 is fine: the scaling removes units).
    Returns:
        (..., n) float32; all zeros for a silent (all-zero) window.
    """
    x = np.asarray(wave, np.float32)
    peak = np.max(np.abs(x), axis=-1, keepdims=True)
    x = x / np.where(peak > 0, peak, 1.0)
    out = np.empty_like(x)
    out[..., :1] = x[..., :1]
    out[..., 1:] = x[..., 1:] - coef * x[..., :-1]
    return out


def square_crop(
    frame: np.ndarray, box: tuple[float, float, float, float], scale: float, size: int
) -> np.ndarray:
    """A square of side ``scale`` x the box's longer side, centred on the box, resized.

    Parts outside the frame repeat its edge pixels.

    Args:
        frame: (H, W, 3) uint8 RGB. box: (left, top, right, bottom) pixels.
    Returns:
        (size, size, 3) uint8 RGB.
    """
    import cv2

    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(2, int(round(scale * max(box[2] - box[0], box[3] - box[1]))))
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = frame.shape[:2]
    pad = [max(0, -y0), max(0, y0 + side - h), max(0, -x0), max(0, x0 + side - w)]
    if any(pad):
        frame = np.pad(frame, ((pad[0], pad[1]), (pad[2], pad[3]), (0, 0)), mode="edge")
        x0, y0 = x0 + pad[2], y0 + pad[0]
    crop = frame[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=interp))


def _rng(clip: Clip, index: int, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{clip.key}|{index}|{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def window_starts(
    frame_time: float, lo: float, hi: float, config: PairConfig, rng: np.random.Generator
) -> list[float]:
    """Starts (s) of ``config.factor`` random 1 s windows inside [lo, hi] whose second lies
    within ``context_seconds`` of ``frame_time``; empty when no window fits."""
    first = max(lo, frame_time - config.context_seconds)
    last = min(hi, frame_time + config.context_seconds) - WINDOW / audio.SAMPLE_RATE
    if last < first - 0.01:  # tolerance: sample rounding of a part of exactly 1 s
        return []
    last = max(first, last)
    return sorted(float(s) for s in rng.uniform(first, last, config.factor))


def clip_pairs(clip: Clip, config: PairConfig) -> tuple[list[dict], list[dict], list[tuple]]:
    """Faces and pairs of one clip (its [start, end] part when set).

    Returns:
        (faces, pairs, rejections): face dicts {face, box, time, identity, split, clip,
        gender}; pair dicts {audio int16 (16000,), face (index into faces), start};
        (clip key, stage, reason) for each rejected frame or window.
    Raises:
        speech2face.errors.UserError: the clip's audio or video cannot be read at all.
    """
    offset = clip.start or 0.0
    wave = audio.load_audio(clip.sidecar or clip.media, start=clip.start, end=clip.end)
    info = video.video_info(clip.media)
    if info is None:
        return [], [], [(clip.key, "video", "no video stream")]
    lo = offset
    hi = min(offset + wave.size / audio.SAMPLE_RATE, clip.end or np.inf)
    last_frame = min(hi, info.duration) - 0.02
    step = 1.0 / config.frames_per_second
    times = [float(t) for t in np.arange(lo + step / 2, last_frame, step)]
    if wave.size < WINDOW:
        return [], [], [(clip.key, "audio", f"{wave.size} samples: shorter than a 1 s window")]
    found, pairs, rejected = [], [], []
    for index, (when, frame) in enumerate(video.read_frames(clip.media, times)):
        detections = faces.detect_faces(faces.to_rgb_uint8(frame), config.detector)
        face = faces.choose_face(detections, frame.shape, clip.hint)
        if face is None:
            rejected.append((clip.key, "face", f"no face at {when:.2f}s"))
            continue
        starts = window_starts(when, lo, hi, config, _rng(clip, index, config.seed))
        kept = []
        for s in starts:
            a = min(max(0, int(round((s - offset) * audio.SAMPLE_RATE))), wave.size - WINDOW)
            piece = wave[a : a + WINDOW]
            if audio.rms(piece) < config.min_rms:
                rejected.append((clip.key, "audio", f"silent window at {s:.2f}s"))
                continue
            kept.append({"audio": encode_audio(piece), "start": s})
        if not kept:
            continue
        for pair in kept:
            pair["face"] = len(found)
        pairs += kept
        found.append(
            {
                "face": square_crop(frame, face.box, config.crop_scale, config.image_size),
                "box": np.asarray(face.box, np.float32),
                "time": float(when),
                "identity": clip.identity,
                "split": clip.split,
                "clip": clip.media,
                "gender": clip.gender,
            }
        )
    return found, pairs, rejected
