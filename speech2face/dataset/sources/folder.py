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
    is kept; an empty split is assigned by identity.

    Raises:
        UserError: missing columns, or a path leaving the folder.
    """
    csv_path = Path(csv_path)
    root = csv_path.parent
    clips = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "identity"} - set(reader.fieldnames or [])
        if missing:
            raise UserError(f"{csv_path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            if row.get("kind", "talking_face") not in kinds:
                continue
            try:
                media = inside(root, row["path"])
            except UserError as exc:
                raise UserError(f"{csv_path}:{line}: {exc}") from None
            if not media.is_file():
                log.warning("%s:%d: %s not found, skipped", csv_path, line, media)
                continue
            identity = row["identity"].strip()
            sidecar = find_sidecar(media) if row.get("has_audio") == "sidecar" else None
            clips.append(
                Clip(
                    str(media),
                    identity,
                    str(sidecar) if sidecar else None,
                    split=row.get("split") or split_of(identity),
                    gender=(row.get("gender") or "").strip(),
                )
            )
    return clips
