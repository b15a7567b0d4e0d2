"""Clips from the VoxCeleb1 / VoxCeleb2 on-disk layouts.

Both datasets store one utterance as ``<speaker id>/<youtube id>/<nnnnn>.<ext>``:
VoxCeleb1 audio as ``.wav``, VoxCeleb2 audio as ``.m4a`` (the ``aac`` tree) and video as
``.mp4``. Accepted roots:

- one tree with audio and video side by side: ``ROOT/id00012/21Uxsk56VDQ/00001.{m4a,mp4}``;
- parallel trees: ``ROOT/{aac|wav}/id.../yt/n.{m4a|wav}`` and ``ROOT/mp4/id.../yt/n.mp4``.

The speaker id is the identity; the audio file becomes the clip's sidecar.
"""

from __future__ import annotations

import os
from pathlib import Path

from speech2face.dataset.sources import TEST_FRACTION, Clip, split_of
from speech2face.errors import UserError

AUDIO_SUFFIXES = (".wav", ".m4a")
AUDIO_TREES = ("aac", "wav")
VIDEO_TREE = "mp4"


def voxceleb_clips(root: str | os.PathLike, test_fraction: float = TEST_FRACTION) -> list[Clip]:
    """List VoxCeleb utterances that have a video (see the module doc for the layouts).

    Raises:
        UserError: no utterance with a matching video was found under ``root``.
    """
    root = Path(root)
    trees = [root / t for t in AUDIO_TREES if (root / t).is_dir()]
    video_root = root / VIDEO_TREE if trees and (root / VIDEO_TREE).is_dir() else None
    clips = []
    for tree in trees or [root]:
        for audio in sorted(tree.glob("*/*/*")):
            if audio.suffix.lower() not in AUDIO_SUFFIXES:
                continue
            rel = audio.relative_to(tree)
            base = video_root if video_root is not None else tree
            video = (base / rel).with_suffix(".mp4")
            if not video.is_file():
                continue
            identity = rel.parts[0]
            clips.append(
                Clip(
                    str(video),
                    identity,
                    sidecar=str(audio),
                    split=split_of(identity, test_fraction),
                )
            )
    if not clips:
        raise UserError(
            f"{root}: no VoxCeleb utterances with video found "
            "(expected <id>/<youtube_id>/<nnnnn>.wav|.m4a beside .mp4, or aac/ and mp4/ trees)"
        )
    return clips
