"""Sources of clips: a folder in the identity layout or a manifest CSV, VoxCeleb, AVSpeech,
and a CSV of YouTube channels (the Wav2Pix authors' input).

Every source yields :class:`Clip` records (:func:`read_clips` picks the reader for a path);
:mod:`speech2face.speech2face.data.build` turns clips into segments. This package never imports
TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from speech2face.audio import CLIP_SECONDS
from speech2face.dataset.splits import HOLDOUT_FRACTION
from speech2face.errors import UserError

MEDIA_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".mkv", ".webm", ".avi", ".mov", ".m4v")
TEST_FRACTION = 0.2  # share of identities put in the test split when a source has no split
SOURCE_TYPES = ("folder", "manifest", "voxceleb", "avspeech", "youtube")
YOUTUBE_URL = "https://www.youtube.com/watch?v={youtube_id}"  # AVSpeech rows name YouTube ids


@dataclass(frozen=True)
class Clip:
    """One recording of one identity.

    Attributes:
        media: path of the video (or audio-with-video) file.
        identity: the person (speaker) id.
        sidecar: optional audio file carrying the speech when ``media`` is silent.
        start, end: optional window inside the media, seconds.
        hint: optional (x, y) face centre as fractions of the frame (AVSpeech).
        split: "train", "test" or "" (assigned by identity later).
        gender: "M", "F" or "" when unknown.
    """

    media: str
    identity: str
    sidecar: str | None = None
    start: float | None = None
    end: float | None = None
    hint: tuple[float, float] | None = None
    split: str = ""
    gender: str = ""

    @property
    def key(self) -> str:
        """Stable id of the clip inside a dataset (media path and window)."""
        return f"{self.media}#{self.start or 0:.3f}-{self.end or 0:.3f}"


def split_of(identity: str, test_fraction: float = TEST_FRACTION) -> str:
    """Deterministic identity-level split: the same identity always lands on the same side."""
    digest = int(hashlib.sha256(identity.encode()).hexdigest()[:8], 16)
    return "test" if digest / 0xFFFFFFFF < test_fraction else "train"


@dataclass
class SourceConfig:
    """How `prepare` reads its source path (defaults: guess the type, split by identity)."""

    source_type: str | None = None  # one of SOURCE_TYPES; None: manifest for a .csv, else folder
    split: str | None = None  # keep only these splits, e.g. "train" or "train,test"
    test_fraction: float = TEST_FRACTION
    split_mode: str = "identity"  # identity | seen | both (speech2face.dataset.splits)
    holdout_fraction: float = HOLDOUT_FRACTION  # seen/both: share of each clip's speech held out
    holdout_window: float = CLIP_SECONDS  # seen/both: a cut keeps this window whole (Wav2Pix: 1)
    from_id: int = 0  # AVSpeech: first CSV row (0-based)
    to_id: int | None = None  # AVSpeech: the row after the last one
    download_dir: str | None = None  # AVSpeech, YouTube: downloads (default OUTPUT/downloads)
    url_template: str = YOUTUBE_URL  # AVSpeech: URL of a video id
    max_videos: int = 15  # YouTube channels: videos per channel (the Wav2Pix authors: 15)
    max_seconds: float | None = None  # YouTube channels: keep only each video's first seconds


def read_clips(
    path: str | os.PathLike, output: str | os.PathLike, config: SourceConfig | None = None
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """The clips of a source, read the way ``config.source_type`` says.

    Args:
        path: a folder ``ROOT/<identity>/<clip>``, a manifest CSV, a VoxCeleb root, an
            AVSpeech CSV or a CSV of YouTube channels (``Channel-URL, Name, Gender``).
        output: the dataset folder being built (AVSpeech and YouTube downloads go to
            ``output/downloads`` unless ``config.download_dir`` is set).
    Returns:
        (clips, [(item, reason)] for what the source itself could not give: malformed
        rows, unavailable videos; ``item`` is "<csv>:<line>" for a CSV row). ``clips`` is
        empty only when some rows were rejected.
    Raises:
        UserError: unknown source type, an unreadable source, or no clip left after the
            split filter.
    """
    from speech2face.dataset.sources import avspeech, folder, voxceleb, youtube_channels
    from speech2face.dataset.splits import apply_split_mode

    config = config or SourceConfig()
    path = Path(path)
    kind = config.source_type or ("manifest" if path.suffix.lower() == ".csv" else "folder")
    failures = []
    if kind == "avspeech":
        download = Path(config.download_dir or Path(output) / "downloads")
        clips, failures = avspeech.avspeech_clips(
            path, download, config.from_id, config.to_id, config.url_template, config.test_fraction
        )
    elif kind == "youtube":
        download = Path(config.download_dir or Path(output) / "downloads")
        clips, failures = youtube_channels.channel_clips(
            path, download, config.max_videos, config.max_seconds, config.test_fraction
        )
    elif kind == "voxceleb":
        clips = voxceleb.voxceleb_clips(path, config.test_fraction)
    elif kind == "manifest":
        clips, failures = folder.manifest_rows(path)
    elif kind == "folder":
        clips = folder.folder_clips(path, config.test_fraction)
    else:
        raise UserError(f"unknown source type {kind!r}: use one of {', '.join(SOURCE_TYPES)}")
    clips = apply_split_mode(
        clips, config.split_mode, config.holdout_fraction, config.holdout_window
    )
    if config.split:
        keep = set(config.split.split(","))
        clips = [c for c in clips if c.split in keep]
    if not clips and not failures:  # with rejected rows, `prepare` lists them, then refuses
        where = f" in split {config.split}" if config.split else ""
        raise UserError(f"{path}: no clips{where} (read as a {kind} source)")
    return clips, failures
