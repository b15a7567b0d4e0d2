"""Voice-only recordings of speakers (no face): the source of `speech2face pretrain`.

A source is a manifest CSV (rows of kind ``speech`` in the chosen splits, paths relative to
the CSV and kept inside its folder) or a folder ``ROOT/<speaker>/<file>`` of audio or video
files. The sample data's ``speech/`` folder (LibriSpeech, VCTK) is such a source. This
module never imports TensorFlow.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import MEDIA_SUFFIXES
from speech2face.dataset.sources.folder import inside
from speech2face.errors import UserError

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac")
SPEECH_KIND = "speech"  # manifest rows of voice-only recordings


def speech_files(
    path: str | os.PathLike, splits: tuple[str, ...] = ("train", "aux")
) -> list[tuple[Path, str]]:
    """(recording, speaker) of every voice-only file of a source, sorted.

    Args:
        path: a manifest CSV (columns ``path``, ``kind``, ``identity``, ``split``) or a
            folder ``ROOT/<speaker>/<file>``.
        splits: manifest rows of these splits only (a folder has no split column).
    Returns:
        [(file, speaker)]; files listed but missing are logged and left out.
    Raises:
        UserError: ``path`` is neither a CSV nor a folder, a CSV lacks columns, or a row's
            path leaves the CSV's folder.
    """
    path = Path(path)
    items = []
    if path.suffix.lower() == ".csv" and path.is_file():
        with open_csv(path) as f:
            reader = csv.DictReader(f)
            missing = {"path", "kind", "identity"} - set(reader.fieldnames or [])
            if missing:
                raise UserError(f"{path}: missing columns {sorted(missing)}")
            for line, row in enumerate(reader, start=2):
                if row["kind"] != SPEECH_KIND or (row.get("split") or "") not in splits:
                    continue
                try:
                    file = inside(path.parent, row["path"])
                except UserError as exc:
                    raise UserError(f"{path}:{line}: {exc}") from None
                if not file.is_file():
                    log.warning("%s:%d: %s not found, skipped", path, line, file)
                    continue
                items.append((file, row["identity"].strip()))
    elif path.is_dir():
        for file in sorted(path.glob("*/*")):
            if file.is_file() and file.suffix.lower() in AUDIO_SUFFIXES + MEDIA_SUFFIXES:
                items.append((file, file.parent.name))
    else:
        raise UserError(
            f"{path}: not a speech source (a manifest CSV or a folder <speaker>/<file>)"
        )
    return sorted(items)
