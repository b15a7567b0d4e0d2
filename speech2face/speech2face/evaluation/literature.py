"""The figures to put beside published ones, each with its 95 % interval (issue 21).

On one held-out split: SF2F's retrieval in disjoint galleries of ``gallery_size``
identities (:mod:`speech2face.speech2face.evaluation.sf2f_retrieval`), 1:2 and N-way voice-face
matching (:mod:`speech2face.speech2face.evaluation.matching`), and percentile-bootstrap intervals
over
identities (:mod:`speech2face.evaluation.intervals`) for every rate the evaluation
reports: identity and segment recall@1 of today's galleries, SF2F recall@1/5/10, matching
over all and over gender-matched pairs, and the balanced gender accuracy of each route.
"""

from __future__ import annotations

import numpy as np

from speech2face.evaluation import intervals
from speech2face.speech2face.evaluation import matching, retrieval, sf2f_retrieval

GALLERY_SIZE = sf2f_retrieval.GALLERY_SIZE  # SF2F's (and the Speech2Face paper's Table 3)
N_BOOT, SEED = intervals.N_BOOT, intervals.SEED


def _arrays_dropped(result: dict) -> dict:
    return {
        k: v
        for k, v in result.items()
        if k not in ("per_probe", "probe_identity") and not k.startswith("per_probe")
    }


def _filled(result: dict, k: str, identities: np.ndarray) -> np.ndarray:
    """(M,) float: a disjoint-gallery result's per-probe recall@k hits at the probes' input
    positions, nan for the probes of identities left out of every gallery."""
    values = np.full(len(identities), np.nan)
    kept = np.isin(identities, np.unique(result["probe_identity"]))
    values[kept] = result["per_probe"][k]
    return values


def _segment_hits(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(M,) bool: the probe's own segment is the nearest of all segments (cosine)."""
    dist = retrieval.distances(pred, true, "cosine")
    return np.sum(dist < np.diag(dist)[:, None], axis=1) < 1


def literature_figures(
    pred: np.ndarray,
    true: np.ndarray,
    identities: np.ndarray,
    genders: np.ndarray | None = None,
    gender_routes: dict | None = None,
    *,
    gallery_size: int = GALLERY_SIZE,
    n_boot: int = N_BOOT,
    seed: int = SEED,
) -> dict:
    """SF2F retrieval, voice-face matching and intervals on one split.

    Args:
        pred, true: (M, D) predicted and true face features. identities, genders: (M,).
        gender_routes: {route: (M,) "M"/"F" answers} whose balanced accuracy gets an
            interval (e.g. the face decoded from the voice, the pitch baseline).
        gallery_size: identities per SF2F gallery. n_boot, seed: the bootstrap's.
    Returns:
        {"per_probe": {figure: (M,) float per-probe values in input order, nan where a
        probe does not count (for :mod:`speech2face.evaluation.probes`; not JSON)},
        "sf2f": disjoint-gallery recall (no per-probe arrays), "matching": matching figures
        (no per-probe arrays), "intervals": {figure: {"value", "low", "high",
        "n_identities", "n_segments", ...}}, "level", "n_boot", "seed"}.
    """
    identities = np.asarray(identities).astype(str)
    kw = {"n_boot": n_boot, "seed": seed}
    sf = sf2f_retrieval.disjoint_gallery_recall(pred, true, identities, gallery_size)
    n_ids = len(set(identities))
    one = sf2f_retrieval.disjoint_gallery_recall(pred, true, identities, n_ids, ks=(1,))
    out = {
        "identity_recall1": intervals.bootstrap_interval(
            one["per_probe"]["1"], one["probe_identity"], **kw
        ),
        "segment_recall1": intervals.bootstrap_interval(
            _segment_hits(pred, true), identities, **kw
        ),
    }
    for k in ("1", "5", "10"):
        if k in sf["per_probe"]:
            out[f"sf2f_recall{k}"] = intervals.bootstrap_interval(
                sf["per_probe"][k], sf["probe_identity"], **kw
            )
    mt = None
    if n_ids >= 2:
        mt = matching.voice_face_matching(pred, true, identities, genders)
        out["matching"] = intervals.bootstrap_interval(mt["per_probe"], mt["probe_identity"], **kw)
        gm = mt["per_probe_gender_matched"]
        if np.isfinite(gm).any():
            out["matching_gender_matched"] = intervals.bootstrap_interval(
                gm, mt["probe_identity"], **kw
            )
    for route, answers in (gender_routes or {}).items():
        interval = intervals.balanced_accuracy_interval(genders, answers, identities, **kw)
        if interval is not None:
            out[f"gender_{route}"] = interval
    per_probe = {
        "identity_recall1": _filled(one, "1", identities),
        "segment_recall1": _segment_hits(pred, true).astype(float),
        **{
            f"sf2f_recall{k}": _filled(sf, k, identities)
            for k in ("1", "5", "10")
            if k in sf["per_probe"]
        },
    }
    if mt is not None:
        per_probe["matching"] = np.asarray(mt["per_probe"], float)
        per_probe["matching_gender_matched"] = np.asarray(mt["per_probe_gender_matched"], float)
    return {
        "per_probe": per_probe,
        "sf2f": _arrays_dropped(sf),
        "matching": None if mt is None else _arrays_dropped(mt),
        "intervals": out,
        "level": 0.95,
        "n_boot": n_boot,
        "seed": seed,
    }
