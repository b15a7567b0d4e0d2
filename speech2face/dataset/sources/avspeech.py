"""Clips from the AVSpeech CSV (Ephrat et al., SIGGRAPH 2018), downloaded with yt-dlp.

The CSV has no header; each row is ``youtube_id, start_s, end_s, x, y`` where (x, y) is
the speaker's face centre as fractions of the frame. Each row's segment is fetched with
yt-dlp's Python API and download ranges (only the needed seconds; the cut is done by the
ffmpeg binary of the imageio-ffmpeg package), with retries. Unavailable videos are logged
and skipped; segments already on disk are not fetched again.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import TEST_FRACTION, YOUTUBE_URL, Clip, split_of
from speech2face.errors import UserError

log = logging.getLogger(__name__)

VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # also keeps file names inside the folder
RETRIES = 3


@dataclass(frozen=True)
class AVSpeechRow:
    """One valid CSV row; ``index`` is its 0-based row number in the file."""

    index: int
    youtube_id: str
    start: float
    end: float
    x: float
    y: float

    @property
    def filename(self) -> str:
        """File name of the downloaded segment: ``<id>_<start>_<end>.mp4``."""
        return f"{self.youtube_id}_{self.start:.3f}_{self.end:.3f}.mp4"


def parse_row(index: int, fields: list[str]) -> AVSpeechRow:
    """Validate one CSV row.

    Raises:
        ValueError: wrong field count, bad id, text in numbers, negative or reversed times,
            or a face centre outside [0, 1]. The message says which.
    """
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (youtube_id, start, end, x, y), got {len(fields)}")
    youtube_id = fields[0].strip()
    if not VIDEO_ID.match(youtube_id):
        raise ValueError(f"bad YouTube id {youtube_id!r}")
    try:
        start, end, x, y = (float(v) for v in fields[1:])
    except ValueError:
        raise ValueError(f"non-numeric time or position in {fields[1:]}") from None
    if start < 0 or end < 0:
        raise ValueError(f"negative time ({start}, {end})")
    if end <= start:
        raise ValueError(f"end {end} is not after start {start}")
    if not (0 <= x <= 1 and 0 <= y <= 1):
        raise ValueError(f"face centre ({x}, {y}) outside [0, 1]")
    return AVSpeechRow(index, youtube_id, start, end, x, y)


def read_csv(
    path: str | os.PathLike, from_id: int = 0, to_id: int | None = None
) -> tuple[list[AVSpeechRow], list[tuple[int, str]]]:
    """Read rows ``from_id <= index < to_id`` of an AVSpeech CSV.

    Returns:
        (valid rows, [(row index, reason)] for malformed rows).
    Raises:
        UserError: the file is missing or not a readable text CSV.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: AVSpeech CSV not found")
    rows, bad = [], []
    with open_csv(path) as f:
        reader = csv.reader(f)
        try:
            for index, fields in enumerate(reader):
                if index < from_id or (to_id is not None and index >= to_id):
                    continue
                if not fields or all(not v.strip() for v in fields):
                    continue
                try:
                    rows.append(parse_row(index, fields))
                except ValueError as exc:
                    bad.append((index, str(exc)))
                    log.warning("%s row %d skipped: %s", path, index, exc)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UserError(
                f"{path}:{reader.line_num}: not a readable CSV ({exc.__class__.__name__}: {exc})"
            ) from None
    return rows, bad


def _ffmpeg_dir() -> str | None:
    """A folder holding an executable named ``ffmpeg`` (yt-dlp looks for that name).

    The binary comes from the imageio-ffmpeg package; it is linked as ``ffmpeg`` under
    ``~/.cache/speech2face/bin``. None when the package is missing.
    """
    try:
        import imageio_ffmpeg

        exe = Path(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None
    folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "speech2face" / "bin"
    link = folder / "ffmpeg"
    if not link.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".ffmpeg.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(exe)
        os.replace(tmp, link)
    return str(folder)


def download_segment(
    row: AVSpeechRow,
    out_dir: str | os.PathLike,
    url_template: str = YOUTUBE_URL,
    retries: int = RETRIES,
) -> Path | None:
    """Fetch the seconds [start, end] of one row's video into ``out_dir``.

    Args:
        url_template: the URL with ``{youtube_id}``; a direct file URL works too
            (yt-dlp's generic extractor), which the tests use on 127.0.0.1.
    Returns:
        The segment file, or None when the video is unavailable (logged).
    """
    import yt_dlp
    from yt_dlp.utils import download_range_func

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / row.filename
    if target.is_file() and target.stat().st_size > 0:
        return target
    partial = out_dir / f".{row.filename}.part.mp4"
    options = {
        "outtmpl": str(partial),
        "format": "best[ext=mp4]/best",
        "download_ranges": download_range_func(None, [(row.start, row.end)]),
        "retries": retries,
        "fragment_retries": retries,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "overwrites": True,
    }
    ffmpeg = _ffmpeg_dir()
    if ffmpeg:
        options["ffmpeg_location"] = ffmpeg
        # yt-dlp's check for partial downloads looks on PATH, not at ffmpeg_location
        if ffmpeg not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = ffmpeg + os.pathsep + os.environ.get("PATH", "")
    url = url_template.format(youtube_id=row.youtube_id)
    for attempt in range(1, retries + 1):
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                ydl.download([url])
            break
        except yt_dlp.utils.DownloadError as exc:
            text = str(exc)
            permanent = any(
                k in text for k in ("Private video", "unavailable", "404", "removed", "ffmpeg")
            )
            log.warning("row %d %s: attempt %d failed: %s", row.index, url, attempt, text)
            if permanent or attempt == retries:
                partial.unlink(missing_ok=True)
                return None
    if not partial.is_file() or partial.stat().st_size == 0:
        log.warning("row %d %s: nothing downloaded", row.index, url)
        return None
    os.replace(partial, target)  # atomic: a finished file is never half-written
    return target


def avspeech_clips(
    csv_path: str | os.PathLike,
    download_dir: str | os.PathLike,
    from_id: int = 0,
    to_id: int | None = None,
    url_template: str = YOUTUBE_URL,
    test_fraction: float = TEST_FRACTION,
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """Download the rows' segments and turn them into clips (face chosen nearest (x, y)).

    AVSpeech has no speaker ids: each YouTube video is taken as one identity.

    Returns:
        (clips, [("<csv>:<line>", reason)] for rows that were malformed or unavailable; the
        reason starts with the 0-based row number that ``from_id``/``to_id`` count).
    """
    from tqdm import tqdm

    rows, bad = read_csv(csv_path, from_id, to_id)
    failures = [(f"{csv_path}:{i + 1}", f"row {i}: {reason}") for i, reason in bad]
    clips = []
    for row in tqdm(rows, desc="download", unit="row", disable=len(rows) < 2):
        path = download_segment(row, download_dir, url_template)
        if path is None:
            failures.append(
                (
                    f"{csv_path}:{row.index + 1}",
                    f"row {row.index} {row.youtube_id}: video unavailable",
                )
            )
            continue
        clips.append(
            Clip(
                str(path),
                row.youtube_id,
                hint=(row.x, row.y),
                split=split_of(row.youtube_id, test_fraction),
            )
        )
    return clips, failures
