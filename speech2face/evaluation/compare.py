"""`speech2face compare A B`: two reports side by side, each difference with a 95 % interval
paired over the identities both were scored on (issue 21).

A report is a folder of ``speech2face evaluate`` or ``speech2face wav2pix evaluate``; each
wrote ``probes_<split>.csv`` (:mod:`speech2face.evaluation.probes`). For every split both
hold, every figure both hold is compared: mean over probes for hits and matching
fractions, balanced accuracy for gender routes. Two recipes evaluated on one dataset are
compared on the same probes; two systems (Wav2Pix's pairs, Speech2Face's segments) on the
identities they share, which is the comparison the papers cannot make.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speech2face.errors import UserError
from speech2face.evaluation import intervals
from speech2face.evaluation.intervals import N_BOOT, SEED, balanced_accuracy
from speech2face.evaluation.probes import PREFIX, is_label, read_probes


def _system(report: Path) -> str:
    """A short name for the report: its system and model folder (from its metrics.json)."""
    try:
        metrics = json.loads((report / "metrics.json").read_text())
    except (OSError, ValueError):
        raise UserError(f"{report}: not a report folder (no readable metrics.json)") from None
    if "protocols" in metrics:
        return f"speech2face ({Path(metrics.get('bundle', '?')).name})"
    return f"wav2pix ({Path(metrics.get('run', '?')).name})"


def _splits(report: Path) -> set[str]:
    return {p.stem[len(PREFIX) :] for p in report.glob(f"{PREFIX}*.csv")}


def _mean(values: np.ndarray) -> float | None:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if len(kept) else None


def compare_split(a: dict, b: dict, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """Every figure two probe tables share (:func:`speech2face.evaluation.probes.read_probes`).

    Returns:
        {figure: {"a", "b": each side's value on the shared identities, "difference": the
        interval of a - b (:func:`speech2face.evaluation.intervals.identity_paired_difference`
        or, for gender routes, ``identity_paired_balanced_difference``)}}; a figure with no
        shared identity that counts is left out.
    """
    shared = np.intersect1d(a["identity"], b["identity"])
    out = {}
    for name in sorted(set(a) & set(b) - {"identity", "gender"}):
        ia, ib = np.isin(a["identity"], shared), np.isin(b["identity"], shared)
        try:
            if is_label(name):
                diff = intervals.identity_paired_balanced_difference(
                    a["gender"],
                    a[name],
                    a["identity"],
                    b["gender"],
                    b[name],
                    b["identity"],
                    n_boot,
                    seed,
                )
                if diff is None:
                    continue
                va = balanced_accuracy(a["gender"][ia], a[name][ia])
                vb = balanced_accuracy(b["gender"][ib], b[name][ib])
            else:
                diff = intervals.identity_paired_difference(
                    a[name], a["identity"], b[name], b["identity"], n_boot, seed
                )
                va, vb = _mean(a[name][ia]), _mean(b[name][ib])
        except ValueError:  # no shared identity where this figure counts
            continue
        out[name] = {"a": va, "b": vb, "difference": diff}
    return out


def compare_reports(
    a: str | os.PathLike, b: str | os.PathLike, n_boot: int = N_BOOT, seed: int = SEED
) -> dict:
    """Compare two report folders split by split.

    Returns:
        {"a", "b": the reports' names, "splits": {split: {"identities": shared count,
        "figures": :func:`compare_split`}}}.
    Raises:
        UserError: a folder that is not a report, or two reports with no split in common.
    """
    a, b = Path(a), Path(b)
    names = _system(a), _system(b)
    common = sorted(_splits(a) & _splits(b))
    if not common:
        raise UserError(
            f"{a} and {b} share no probe table (probes_<split>.csv): evaluate both with "
            "this release, on datasets with a common held-out split"
        )
    out = {"a": f"{names[0]} {a}", "b": f"{names[1]} {b}", "splits": {}}
    for split in common:
        pa, pb = (read_probes(r / f"{PREFIX}{split}.csv") for r in (a, b))
        out["splits"][split] = {
            "identities": int(len(np.intersect1d(pa["identity"], pb["identity"]))),
            "figures": compare_split(pa, pb, n_boot, seed),
        }
    return out


def compare_lines(result: dict) -> list[str]:
    """The printed table: each figure's A, B and A - B with its paired 95 % interval."""

    def num(v):
        return "   -  " if v is None else f"{v:6.3f}"

    lines = [f"A: {result['a']}", f"B: {result['b']}"]
    for split, block in result["splits"].items():
        lines.append(f"{split}: {block['identities']} identities in both")
        if not block["figures"]:
            lines.append("  no figure in common")
            continue
        lines.append(f"  {'figure':34s}      A       B     A-B  95 % interval (paired)")
        for name, f in block["figures"].items():
            d = f["difference"]
            lines.append(
                f"  {name:34s} {num(f['a'])}  {num(f['b'])}  {d['value']:+.3f}  "
                f"[{d['low']:+.3f}, {d['high']:+.3f}]  ({d['n_identities']} identities)"
            )
    return lines
