"""Bootstrap confidence intervals over identities (percentile bootstrap, Efron & Tibshirani,
"An Introduction to the Bootstrap", 1993, ch. 13).

Segments of one identity are not independent (one face, one voice), so the resampling unit is
the identity: a bootstrap sample draws as many identities as there are, with replacement,
and pools all per-probe values of the drawn identities (an identity drawn twice counts
twice). The interval is the (1 - level) / 2 and (1 + level) / 2 quantiles of the statistic
over ``n_boot`` samples, with a fixed seed. The draw is
``np.random.default_rng(seed).integers(0, n_ids, size=(n_boot, n_ids))`` on identities in
``np.unique`` order, so an independent loop can reproduce it.
"""

from __future__ import annotations

import numpy as np

STATISTICS = ("mean", "identity_mean")


def _per_identity(columns, identities):
    """Drop entries where any column is nan; per-identity sums of each column and counts."""
    cols = [np.asarray(c, np.float64) for c in columns]
    ids = np.asarray(identities)
    m = len(ids) if ids.ndim == 1 else -1
    if any(c.shape != (m,) for c in cols):
        shapes = ", ".join(str(c.shape) for c in cols + [ids])
        raise ValueError(f"values and identities must be (M,) arrays of one length, got {shapes}")
    keep = np.all([~np.isnan(c) for c in cols], axis=0) if m else np.zeros(0, bool)
    if not keep.any():
        raise ValueError("no values: empty input, or every value is nan")
    _, inv = np.unique(ids[keep], return_inverse=True)
    counts = np.bincount(inv).astype(np.float64)
    sums = [np.bincount(inv, weights=c[keep]) for c in cols]
    return sums, counts


def _stat(weights: np.ndarray, sums: np.ndarray, counts: np.ndarray, statistic: str):
    """Statistic of samples given identity multiplicities ``weights`` (B, n_ids) or (n_ids,)."""
    if statistic == "mean":
        return (weights @ sums) / (weights @ counts)
    return (weights @ (sums / counts)) / weights.sum(-1)


def _draw(n_ids: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_ids) float multiplicities of each identity in each bootstrap sample."""
    idx = np.random.default_rng(seed).integers(0, n_ids, size=(n_boot, n_ids))
    flat = idx + n_ids * np.arange(n_boot)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_ids).reshape(n_boot, n_ids).astype(float)


def _check(n_boot, level, statistic):
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}: use one of {STATISTICS}")


def _summarise(stat, counts, n_boot, seed, level) -> dict:
    """The interval of ``stat(identity multiplicities)`` over the bootstrap draws."""
    stats = stat(_draw(len(counts), int(n_boot), seed))
    tail = (1 - level) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return {
        "value": float(stat(np.ones(len(counts)))),
        "low": float(low),
        "high": float(high),
        "n_identities": len(counts),
        "n_segments": int(counts.sum()),
        "n_boot": int(n_boot),
        "level": level,
        "seed": seed,
    }


def _interval(sums, counts, n_boot, seed, level, statistic) -> dict:
    return _summarise(lambda w: _stat(w, sums, counts, statistic), counts, n_boot, seed, level)


def bootstrap_distribution(
    values: np.ndarray, identities: np.ndarray, n_boot: int = 1000, seed: int = 0, statistic="mean"
) -> np.ndarray:
    """(n_boot,) float64 bootstrap replicates of the statistic (see :func:`bootstrap_interval`).

    Raises:
        ValueError: as :func:`bootstrap_interval`.
    """
    _check(n_boot, 0.5, statistic)
    (sums,), counts = _per_identity([values], identities)
    return _stat(_draw(len(counts), int(n_boot), seed), sums, counts, statistic)


def bootstrap_interval(
    values: np.ndarray,
    identities: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    statistic: str = "mean",
) -> dict:
    """Percentile bootstrap interval of a per-probe figure, resampling identities.

    Args:
        values: (M,) per-probe values, bool or float (e.g. recall@K hits, matching fractions);
            nan entries are ignored (an identity with only nan values is not counted).
        identities: (M,) identity of each probe.
        n_boot: bootstrap samples.
        seed: seed of ``np.random.default_rng`` (same seed, same samples).
        level: coverage, e.g. 0.95.
        statistic: "mean" (pooled mean of the drawn identities' values: an identity weighs by
            its number of values) or "identity_mean" (mean of the drawn identities' means).
    Returns:
        {"value": the statistic on all data, "low", "high": the interval, "n_identities",
        "n_segments" (non-nan values), "n_boot", "level", "seed"}.
    Raises:
        ValueError: values and identities not (M,) of one length, no non-nan value,
            n_boot < 1, level outside (0, 1) or an unknown statistic.
    """
    _check(n_boot, level, statistic)
    (sums,), counts = _per_identity([values], identities)
    return _interval(sums, counts, n_boot, seed, level, statistic)


def paired_difference_interval(
    values_a: np.ndarray,
    values_b: np.ndarray,
    identities: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    statistic: str = "mean",
) -> dict:
    """Interval of statistic(a) - statistic(b) for two systems scored on the same probes.

    Both are resampled with the same identity draws, so what the two share (easy and hard
    identities) cancels. Probes where a or b is nan are left out of both.

    Args:
        values_a, values_b: (M,) per-probe values of the two systems, bool or float.
        identities: (M,) identity of each probe.
        n_boot, seed, level, statistic: as :func:`bootstrap_interval`.
    Returns:
        the keys of :func:`bootstrap_interval`; "value" = statistic(a) - statistic(b).
    Raises:
        ValueError: as :func:`bootstrap_interval`.
    """
    _check(n_boot, level, statistic)
    (sa, sb), counts = _per_identity([values_a, values_b], identities)
    return _interval(sa - sb, counts, n_boot, seed, level, statistic)


def balanced_accuracy_interval(
    truth: np.ndarray,
    predicted: np.ndarray,
    identities: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict | None:
    """Interval of the balanced gender accuracy (the mean of the per-gender recalls),
    resampling identities as :func:`bootstrap_interval` does (the same draws).

    Args:
        truth, predicted: (M,) "M"/"F" labels (others are left out). identities: (M,).
        n_boot, seed, level: as :func:`bootstrap_interval`.
    Returns:
        the keys of :func:`bootstrap_interval`, or None when the probes hold one gender only
        (the figure needs both). A resample that lacks a gender scores that sample's other
        recall alone.
    Raises:
        ValueError: arrays of different lengths, n_boot < 1 or level outside (0, 1).
    """
    truth, predicted = np.asarray(truth).astype(str), np.asarray(predicted).astype(str)
    known = np.isin(truth, ["M", "F"])
    if len(set(truth[known])) < 2:
        return None
    correct = (truth == predicted).astype(float)
    columns = [np.where(truth == g, correct, 0.0) for g in "MF"]
    columns += [(truth == g).astype(float) for g in "MF"]
    ids = np.asarray(identities)[known]
    (hit_m, hit_f, n_m, n_f), counts = _per_identity([c[known] for c in columns], ids)

    def stat(w):
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.stack([(w @ hit_m) / (w @ n_m), (w @ hit_f) / (w @ n_f)])
        return np.nanmean(r, axis=0)

    _check(n_boot, level, "mean")
    return _summarise(stat, counts, n_boot, seed, level)
