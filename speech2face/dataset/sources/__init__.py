"""Sources of clips: a folder in the identity layout or a manifest CSV, VoxCeleb, AVSpeech.

Every source yields :class:`Clip` records; :mod:`speech2face.dataset.build` turns clips
into segments. This package never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MEDIA_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".mkv", ".webm", ".avi", ".mov", ".m4v")
TEST_FRACTION = 0.2  # share of identities put in the test split when a source has no split


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
