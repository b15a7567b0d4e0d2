"""Clips from a CSV of YouTube channels (the Wav2Pix authors' ``get_data.py`` input).

The CSV has a header with the columns ``Channel-URL``, ``Name`` and ``Gender`` (spaces after
the commas are allowed). Each channel's first ``max_videos`` videos (the authors: 15) are
fetched with yt-dlp's Python API into ``<download_dir>/<Name>/<video id>.mp4``, optionally
only their first ``max_seconds`` seconds (yt-dlp download ranges, cut by the ffmpeg binary
of imageio-ffmpeg). A download archive per channel makes a rerun skip finished videos;
yt-dlp writes ``.part`` files and renames them when complete. Unavailable channels and
videos are logged and skipped. The channel's Name is the identity; it is reduced to
letters, digits, ``_``, ``-`` and ``.`` so that its folder stays inside ``download_dir``.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import Clip, split_of
from speech2face.errors import UserError

log = logging.getLogger(__name__)

COLUMNS = ("Channel-URL", "Name", "Gender")
MAX_VIDEOS = 15  # the authors' playlistend
GENDERS = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}


@dataclass(frozen=True)
class Channel:
    """One valid CSV row: ``line`` (1-based, header = 1), ``url``, ``identity``, ``gender``."""

    line: int
    url: str
    identity: str
    gender: str


def identity_name(name: str) -> str:
    """A channel Name as a safe folder name (letters, digits, ``_-.``; spaces -> ``_``).

    Raises:
        ValueError: nothing usable is left.
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip()).strip("._-")
    if not safe:
        raise ValueError(f"unusable channel name {name!r}")
    return safe[:64]


def read_channels(path: str | os.PathLike) -> tuple[list[Channel], list[tuple[int, str]]]:
    """Read and validate the channel CSV.

    Returns:
        (channels, [(line, reason)] for malformed rows).
    Raises:
        UserError: the file is missing or lacks a column.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: channel CSV not found")
    channels, bad = [], []
    with open_csv(path) as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        fields = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in fields]
        if missing:
            raise UserError(f"{path}: missing columns {missing} (need {', '.join(COLUMNS)})")
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
            url = row["Channel-URL"]
            try:
                if not re.match(r"^https?://[^\s/]+", url):
                    raise ValueError(f"not an http(s) URL: {url!r}")
                identity = identity_name(row["Name"])
            except ValueError as exc:
                bad.append((line, str(exc)))
                log.warning("%s line %d skipped: %s", path, line, exc)
                continue
            gender = GENDERS.get(row["Gender"].lower(), "")
            channels.append(Channel(line, url, identity, gender))
    return channels, bad


def download_channel(
    channel: Channel,
    download_dir: str | os.PathLike,
    max_videos: int = MAX_VIDEOS,
    max_seconds: float | None = None,
    retries: int = 3,
) -> list[Path]:
    """Fetch a channel's videos into ``download_dir/<identity>/``; returns the files there.

    Returns:
        The finished video files of the channel (also those of earlier runs), sorted.
    """
    import yt_dlp

    from speech2face.dataset.sources.avspeech import _ffmpeg_dir

    folder = Path(download_dir) / channel.identity
    folder.mkdir(parents=True, exist_ok=True)
    options = {
        "outtmpl": str(folder / "%(id)s.%(ext)s"),
        "format": "best[ext=mp4]/best",
        "playlistend": max_videos,
        "download_archive": str(folder / ".downloaded.txt"),
        "ignoreerrors": True,
        "restrictfilenames": True,
        "retries": retries,
        "fragment_retries": retries,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
    }
    if max_seconds:
        from yt_dlp.utils import download_range_func

        options["download_ranges"] = download_range_func(None, [(0, max_seconds)])
        ffmpeg = _ffmpeg_dir()
        if ffmpeg:  # yt-dlp looks for ffmpeg on PATH before cutting ranges (as avspeech)
            options["ffmpeg_location"] = ffmpeg
            os.environ["PATH"] = ffmpeg + os.pathsep + os.environ.get("PATH", "")
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            ydl.download([channel.url])
    except yt_dlp.utils.DownloadError as exc:  # ignoreerrors covers most; log the rest
        log.warning("channel %s (%s): %s", channel.identity, channel.url, exc)
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".part", ".ytdl"))
    )


def channel_clips(
    csv_path: str | os.PathLike,
    download_dir: str | os.PathLike,
    max_videos: int = MAX_VIDEOS,
    max_seconds: float | None = None,
    test_fraction: float = 0.2,
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """Download every channel of the CSV and list its videos as clips of its identity.

    Returns:
        (clips, [(item, reason)] for malformed rows and channels without any video).
    """
    from tqdm import tqdm

    channels, bad = read_channels(csv_path)
    failures = [(f"line {line}", reason) for line, reason in bad]
    clips = []
    for channel in tqdm(channels, desc="channels", unit="channel", disable=len(channels) < 2):
        files = download_channel(channel, download_dir, max_videos, max_seconds)
        if not files:
            failures.append((f"line {channel.line} {channel.url}", "no video downloaded"))
            continue
        split = split_of(channel.identity, test_fraction)
        clips += [Clip(str(p), channel.identity, split=split, gender=channel.gender) for p in files]
    return clips, failures
