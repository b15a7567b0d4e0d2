"""Reading the CSV files users give (manifests, AVSpeech lists, channel lists, face lists).

Spreadsheet programs save CSV with a UTF-8 byte-order mark (Excel's "CSV UTF-8") and CRLF
line ends; both are read as plain UTF-8 CSV here, so a header ``path`` is ``path`` and
not ``\\ufeffpath``.
"""

from __future__ import annotations

import os

ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark


def open_csv(path: str | os.PathLike):
    """Open a CSV file for :mod:`csv` reading: UTF-8 with or without a BOM, any line ends
    (``newline=""``, as the csv module asks). Raises OSError as ``open`` does."""
    return open(path, newline="", encoding=ENCODING)
