"""How a source PATH is read and split: the options of SourceConfig.

Shared by `speech2face prepare` (Speech2Face segments) and `speech2face wav2pix prepare`
(Wav2Pix pairs), which read their clips through the same sources (speech2face.dataset).
"""

from __future__ import annotations

import argparse

from speech2face.cli.options import add_options, option
from speech2face.dataset.sources import SOURCE_TYPES, SourceConfig
from speech2face.dataset.splits import SPLIT_MODES

SOURCE_OPTIONS = (
    option(
        "--source",
        "source_type",
        "how to read PATH (default: folder, or manifest for a .csv); youtube: a CSV of "
        "Channel-URL, Name, Gender",
        choices=SOURCE_TYPES,
    ),
    option("--split", "split", "keep only these splits, e.g. 'train,test'"),
    option(
        "--test-fraction",
        "test_fraction",
        "share of identities in the test split when the source has none",
        type=float,
    ),
    option(
        "--split-mode",
        "split_mode",
        "evaluation protocol of the splits: identity (unseen identities, Speech2Face), seen "
        "(every identity's clips cut by time into train and test_seen: seen identities, unseen "
        "speech, Wav2Pix) or both (test identities unseen, train identities' speech held out)",
        choices=SPLIT_MODES,
    ),
    option(
        "--holdout-fraction",
        "holdout_fraction",
        "seen/both: share of each clip's speech held out as test_seen (cut on a 6 s window "
        "when the clip is long enough)",
        type=float,
    ),
    option(("--from_id", "--from-id"), "from_id", "AVSpeech: first CSV row (0-based)", type=int),
    option(("--to_id", "--to-id"), "to_id", "AVSpeech: row after the last one", type=int),
    option(
        "--download-dir",
        "download_dir",
        "AVSpeech, YouTube: where videos are downloaded (default OUTPUT/downloads)",
    ),
    option("--url-template", "url_template", "AVSpeech: URL of a video id"),
    option("--max-videos", "max_videos", "YouTube channels: videos per channel", type=int),
    option(
        "--max-seconds",
        "max_seconds",
        "YouTube channels: keep only the first seconds of each video",
        type=float,
    ),
)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of how PATH is read and split (the fields of SourceConfig)."""
    add_options(p, SourceConfig, SOURCE_OPTIONS)
