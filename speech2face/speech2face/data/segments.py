"""One clip -> 6 s segments with their face targets (Speech2Face §3, data).

Audio: the clip's speech is loaded at 16 kHz; a clip shorter than 6 s gives one
loop-padded segment (the paper's rule), a longer one non-overlapping 6 s windows (or a
chosen hop). Silent segments are rejected. Faces: a few frames inside each segment are
decoded; the speaker's face is detected (nearest the hint, else the largest), aligned to
224 x 224 with its 68 landmarks; the frame with the largest frontal face is the target,
and its face feature comes from the chosen encoder (optionally averaged over the frames).
This module never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speech2face import audio, faces, video
from speech2face.dataset import shards
from speech2face.dataset.sources import Clip


@dataclass
class SegmentConfig:
    """How segments are cut and their faces found (defaults follow the paper)."""

    hop_seconds: float | None = None  # None: non-overlapping 6 s windows
    # Segments quieter than this RMS (full scale 1.0) are silent. 0.003 is about -50 dBFS:
    # every 6 s speech window of the sample clips measures above 0.024 (-32 dBFS), so only
    # windows with next to no speech in them (digital silence, room tone) are rejected.
    min_rms: float = audio.SILENCE_RMS
    frames_per_segment: int = 3  # frames searched for the face in each segment
    detector: str = "hog"  # dlib face detector: hog (fast) or cnn
    average_features: bool = False  # the paper used one frame
    face_size: int = faces.CROP_SIZE


def segment_spans(n_samples: int, hop_seconds: float | None) -> list[tuple[int, int]]:
    """Sample spans [a, b) of the segments of a waveform of ``n_samples`` samples.

    One span covering the whole clip when it is shorter than 6 s (it is loop-padded).
    """
    length = audio.N_SAMPLES
    if n_samples < length:
        return [(0, n_samples)]
    hop = length if hop_seconds is None else int(round(hop_seconds * audio.SAMPLE_RATE))
    return [(a, a + length) for a in range(0, n_samples - length + 1, hop)]


def _best_face(media: str, times: list[float], config: SegmentConfig, hint):
    """Aligned faces in frames at ``times``; returns (best face, all faces found)."""
    found = []
    for _, frame in video.read_frames(media, times):
        face = faces.find_face(frame, config.detector, hint=hint, size=config.face_size)
        if face is not None:
            found.append(face)
    if not found:
        return None, []
    best = max(found, key=lambda f: f.box[2] - f.box[0])
    return best, found


def clip_segments(clip: Clip, config: SegmentConfig, encoder) -> tuple[list[dict], list[tuple]]:
    """Cut one clip into segments with face targets.

    Args:
        clip: the clip (its sidecar, when set, carries the speech).
        config: segmenting options.
        encoder: a :class:`speech2face.faces.FaceEncoder`.
    Returns:
        (segments, rejections): segment dicts in the shard layout
        (:mod:`speech2face.dataset.shards`), and (clip key, stage, reason) for each rejection.
    Raises:
        speech2face.errors.UserError: the clip's audio or video cannot be read at all.
    """
    wave = audio.load_audio(clip.sidecar or clip.media, start=clip.start, end=clip.end)
    info = video.video_info(clip.media)
    if info is None:
        return [], [(clip.key, "video", "no video stream")]
    # the first sample load_audio returned, so that start/end are exact sample times
    offset = round((clip.start or 0.0) * audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    segments, rejections = [], []
    for a, b in segment_spans(wave.size, config.hop_seconds):
        piece = wave[a:b]
        t0, t1 = offset + a / audio.SAMPLE_RATE, offset + b / audio.SAMPLE_RATE
        where = f"{t0:.2f}-{t1:.2f}s"
        if audio.rms(piece) < config.min_rms:
            rejections.append((clip.key, "audio", f"silent segment {where}"))
            continue
        k = max(1, config.frames_per_segment)
        last = min(t1, offset + info.duration) - 0.05
        times = [t0 + (i + 0.5) * (last - t0) / k for i in range(k)]
        best, found = _best_face(clip.media, times, config, clip.hint)
        if best is None:
            rejections.append((clip.key, "face", f"no face in {k} frames of {where}"))
            continue
        if config.average_features:
            feats = encoder.encode(
                np.stack([f.image for f in found]), np.stack([f.landmarks for f in found])
            )
            feature = feats.mean(0)
        else:
            feature = encoder.encode(best.image[None], best.landmarks[None])[0]
        segments.append(
            {
                "audio": shards.encode_audio(audio.loop_pad(piece)),
                "face": best.image,
                "landmarks": best.landmarks,
                "feature": feature.astype(np.float32),
                "box": np.asarray(best.box, np.float32),
                "start": t0,
                "end": t1,
                "identity": clip.identity,
                "split": clip.split,
                "gender": clip.gender,
                "clip": clip.media,
            }
        )
    return segments, rejections
