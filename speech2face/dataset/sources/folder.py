"""Clips from a folder ``ROOT/<identity>/<clip>.<ext>`` or from a manifest CSV.

The manifest CSV is the format of the sample data's ``manifest.csv``: columns ``path``
(relative to the CSV's folder), ``kind``, ``identity``, ``gender``, ``split``. Rows of kind
``talking_face`` are clips; a silent video takes its speech from ``<stem>.wav`` beside it.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from speech2face.audio import find_sidecar
from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import MEDIA_SUFFIXES, TEST_FRACTION, Clip, split_of
from speech2face.errors import UserError

log = logging.getLogger(__name__)


def inside(root: Path, relative: str) -> Path:
    """Resolve ``relative`` under ``root``; refuse absolute paths and ``..`` escapes.

    Raises:
        UserError: the path would leave ``root``.
    """
    root = root.resolve()
    path = (root / relative).resolve()
    if Path(relative).is_absolute() or not path.is_relative_to(root):
        raise UserError(f"path {relative!r} leaves the folder {root}")
    return path


def folder_clips(root: str | os.PathLike, test_fraction: float = TEST_FRACTION) -> list[Clip]:
    """Clips of ``ROOT/<identity>/<clip>.<ext>`` (video files; sidecar wavs are paired).

    The split is by identity (:func:`split_of`), never by clip.

    Raises:
        UserError: ``root`` is not a folder or holds no video clips.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder")
    clips = []
    for media in sorted(root.glob("*/*")):
        if media.suffix.lower() not in MEDIA_SUFFIXES:
            continue
        sidecar = find_sidecar(media)
        identity = media.parent.name
        clips.append(
            Clip(
                str(media),
                identity,
                str(sidecar) if sidecar else None,
                split=split_of(identity, test_fraction),
            )
        )
    if not clips:
        raise UserError(f"{root}: no video clips in <identity>/<clip> layout ({MEDIA_SUFFIXES})")
    return clips


def manifest_clips(
    csv_path: str | os.PathLike, kinds: tuple[str, ...] = ("talking_face",)
) -> list[Clip]:
    """Clips listed in a manifest CSV (rows whose ``kind`` is in ``kinds``).

    Paths are relative to the CSV's folder and must stay inside it. The ``split`` column
    is kept; an empty split is assigned by identity. Rejected rows are logged
    (:func:`manifest_rows` returns them).

    Raises:
        UserError: missing columns, or a file that is not a readable text CSV.
    """
    clips, rejected = manifest_rows(csv_path, kinds)
    for item, reason in rejected:
        log.warning("%s: row skipped: %s", item, reason)
    return clips


def manifest_rows(
    csv_path: str | os.PathLike, kinds: tuple[str, ...] = ("talking_face",)
) -> tuple[list[Clip], list[tuple[str, str]]]:
    """Clips of a manifest CSV and the rows rejected, each with its line and reason.

    A row is rejected when it has another number of fields than the header, an empty path
    or identity, a path leaving the CSV's folder (absolute, ``..``, a link out), or a file
    that does not exist. Rows of other kinds are ignored, not rejected.

    Returns:
        (clips, [("<csv>:<line>", reason)]).
    Raises:
        UserError: missing columns, or a file that is not a readable text CSV (the message
            names the line).
    """
    csv_path = Path(csv_path)
    root = csv_path.parent
    clips, rejected = [], []
    with open_csv(csv_path) as f:
        reader = csv.DictReader(f)
        try:
            missing = {"path", "identity"} - set(reader.fieldnames or [])
            if missing:
                raise UserError(f"{csv_path}: missing columns {sorted(missing)}")
            for row in reader:
                item = f"{csv_path}:{reader.line_num}"
                if row.get("kind", "talking_face") not in kinds:
                    continue
                try:
                    clips.append(_manifest_clip(root, row))
                except (UserError, ValueError) as exc:
                    rejected.append((item, str(exc)))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise UserError(
                f"{csv_path}:{reader.line_num}: not a readable CSV ({exc.__class__.__name__}: "
                f"{exc})"
            ) from None
    return clips, rejected


def _manifest_clip(root: Path, row: dict) -> Clip:
    """One manifest row as a clip. Raises ValueError / UserError saying what is wrong."""
    if None in row or None in row.values():
        raise ValueError("another number of fields than the header")
    if not row["path"].strip():
        raise ValueError("empty path")
    identity = row["identity"].strip()
    if not identity:
        raise ValueError("empty identity")
    media = inside(root, row["path"])
    if not media.is_file():
        raise ValueError(f"{media} not found")
    sidecar = find_sidecar(media) if row.get("has_audio") == "sidecar" else None
    return Clip(
        str(media),
        identity,
        str(sidecar) if sidecar else None,
        split=(row.get("split") or "").strip() or split_of(identity),
        gender=(row.get("gender") or "").strip(),
    )
