"""Per-probe values of a report (``probes_<split>.csv``), so two reports can be compared
probe by probe (:mod:`speech2face.evaluation.compare`).

One row per probe (a Speech2Face test segment, a Wav2Pix held-out pair): its identity, a
number per figure (1/0 hits, matching fractions; empty where the probe does not count, as
a probe of an identity left out of every SF2F gallery), and gender labels: ``gender`` (the
truth) and ``gender_<route>`` (each route's answer, "M"/"F").
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from speech2face.csvfiles import open_csv
from speech2face.errors import UserError

PREFIX = "probes_"


def probes_file(report: str | os.PathLike, split: str) -> Path:
    """The probe table of ``split`` in a report folder."""
    return Path(report) / f"{PREFIX}{split}.csv"


def is_label(column: str) -> bool:
    """Gender label columns hold "M"/"F"; every other column but "identity" a number."""
    return column == "gender" or column.startswith("gender_")


def write_probes(path: Path, identities, values: dict, labels: dict | None = None) -> None:
    """Write one split's probe table (replacing it: a report is rewritten whole).

    Args:
        identities: (M,) identity of each probe.
        values: {figure: (M,) float (nan: the probe does not count)}.
        labels: {"gender": (M,) truth, "gender_<route>": (M,) answers}.
    Raises:
        ValueError: a column of another length.
    """
    ids = np.asarray(identities).astype(str)
    columns = {**{k: np.asarray(v, float) for k, v in values.items()}, **(labels or {})}
    for name, column in columns.items():
        if len(column) != len(ids):
            raise ValueError(f"probe column {name!r}: {len(column)} values for {len(ids)} probes")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["identity", *columns])
        for i, name in enumerate(ids):
            row = [name]
            for key, column in columns.items():
                v = column[i]
                row.append(v if is_label(key) else ("" if math.isnan(v) else f"{v:.6g}"))
            w.writerow(row)
    os.replace(tmp, path)


def read_probes(path: str | os.PathLike) -> dict:
    """{"identity": (M,) str, figure: (M,) float (nan: empty), label: (M,) str}.

    Raises:
        UserError: the file is missing, has no "identity" column or a cell that is not a
            number where one is expected.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no probe table (evaluate the model again with this release)")
    with open_csv(path) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        fields = reader.fieldnames or []
    if "identity" not in fields:
        raise UserError(f"{path}: no 'identity' column")
    out = {"identity": np.array([r["identity"] for r in rows], str)}
    for name in fields:
        if name == "identity":
            continue
        cells = [r[name] or "" for r in rows]
        if is_label(name):
            out[name] = np.array(cells, str)
            continue
        try:
            out[name] = np.array([float(c) if c else np.nan for c in cells])
        except ValueError as exc:
            raise UserError(f"{path}: column {name!r}: {exc}") from None
    return out
