"""Video frames with PyAV (FFmpeg in-process): stream info and frames at chosen times."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech2face.errors import UserError


class VideoError(UserError):
    """A video could not be read; the message names the file and the cause."""


@dataclass(frozen=True)
class VideoInfo:
    """Duration (s), frame rate (frames/s) and size (px) of a file's first video stream."""

    duration: float
    fps: float
    width: int
    height: int


def _open(path: Path):
    import av

    if not path.is_file():
        raise VideoError(f"{path}: file not found")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot decode ({exc.__class__.__name__}: {exc})") from None


def video_info(path: str | os.PathLike) -> VideoInfo | None:
    """Describe the first video stream, or return None for a file without one (audio, image).

    Raises:
        VideoError: missing or undecodable file.
    """
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = (stream.frames or 0) / fps
        return VideoInfo(duration, fps, stream.codec_context.width, stream.codec_context.height)


SEEK_AHEAD = 2.0  # s: targets further ahead than this are reached by seeking, not decoding


def read_frames(path: str | os.PathLike, times: list[float]) -> list[tuple[float, np.ndarray]]:
    """Decode the frames nearest to the given times.

    Targets are visited in time order; the decoder runs forward and seeks only to jump
    more than SEEK_AHEAD seconds, so long videos are not decoded whole. Times count from
    the first frame of the stream (MPEG-PS streams carry a non-zero start time).

    Args:
        path: a video file.
        times: seconds from the start of the video.
    Returns:
        [(time of the frame in s, RGB uint8 (H, W, 3))], one per requested time inside the
        video, in the order requested.
    Raises:
        VideoError: missing file, no video stream, or decoding failed before any frame.
    """
    import av

    path = Path(path)
    found: dict[int, tuple[float, np.ndarray]] = {}
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        half = 0.5 / float(stream.average_rate or 25)
        origin = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        order = sorted(range(len(times)), key=lambda i: times[i])
        frames = container.decode(stream)
        position = 0.0
        frame = None
        try:
            for i in order:
                target = times[i] + origin
                if target - position > SEEK_AHEAD:
                    container.seek(int(target / stream.time_base), stream=stream, backward=True)
                    frames = container.decode(stream)
                    frame = None
                while frame is None or (frame.time is not None and frame.time < target - half):
                    frame = next(frames, None)
                    if frame is None:
                        break
                    position = float(frame.time or position)
                if frame is None:
                    break
                when = times[i] if frame.time is None else float(frame.time) - origin
                found[i] = (when, frame.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as exc:
            if not found:
                raise VideoError(f"{path}: cannot decode frames ({exc})") from None
    return [found[i] for i in range(len(times)) if i in found]


def decode_all(path: str | os.PathLike) -> int:
    """Decode every video frame to RGB (a speed baseline); returns the frame count."""
    n = 0
    with _open(Path(path)) as container:
        if not container.streams.video:
            return 0
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n
