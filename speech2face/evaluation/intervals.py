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
N_BOOT = 1000  # bootstrap draws of every interval the evaluations report
SEED = 0  # their seed: two reports of one split draw the same identities


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
    values: np.ndarray,
    identities: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    statistic="mean",
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
    n_boot: int = N_BOOT,
    seed: int = SEED,
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
    n_boot: int = N_BOOT,
    seed: int = SEED,
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


def balanced_accuracy(truth, predicted) -> float | None:
    """The balanced gender accuracy: the mean of the per-gender recalls.

    Args:
        truth, predicted: (M,) labels; only entries whose truth is "M" or "F" count.
    Returns:
        the mean recall over the genders present, or None when no truth is "M" or "F".
    """
    truth, predicted = np.asarray(truth).astype(str), np.asarray(predicted).astype(str)
    recalls = [np.mean(predicted[truth == g] == g) for g in ("M", "F") if np.any(truth == g)]
    return float(np.mean(recalls)) if recalls else None


def balanced_accuracy_interval(
    truth: np.ndarray,
    predicted: np.ndarray,
    identities: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = SEED,
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
    columns, both = _gender_columns(truth, predicted)
    if not both:
        return None
    sums, counts = _per_identity(columns, identities)
    _check(n_boot, level, "mean")
    return _summarise(lambda w: _balanced(w, sums), counts, n_boot, seed, level)


def _gender_columns(truth, answers) -> tuple[list[np.ndarray], bool]:
    """(M,) columns [right and M, right and F, is M, is F] (nan where the truth is neither)
    and whether both genders occur: per-identity sums of these give balanced accuracy."""
    truth, answers = np.asarray(truth).astype(str), np.asarray(answers).astype(str)
    known = np.isin(truth, ["M", "F"])
    correct = (truth == answers).astype(float)
    cols = [np.where(truth == g, correct, 0.0) for g in "MF"]
    cols += [(truth == g).astype(float) for g in "MF"]
    return [np.where(known, c, np.nan) for c in cols], len(set(truth[known])) == 2


def _balanced(w: np.ndarray, sums: list[np.ndarray]) -> np.ndarray:
    """Balanced accuracy of identity multiplicities ``w`` from :func:`_gender_columns` sums
    (a resample that lacks a gender scores its other recall alone)."""
    hit_m, hit_f, n_m, n_f = sums
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.stack([(w @ hit_m) / (w @ n_m), (w @ hit_f) / (w @ n_f)])
    return np.nanmean(r, axis=0)


def _shared_sums(columns_a, ids_a, columns_b, ids_b):
    """Each side's per-identity column sums and counts (:func:`_per_identity`), restricted
    to the identities both sides hold, in one order: (sums_a, counts_a, sums_b, counts_b)."""
    sides = []
    for cols, ids in ((columns_a, ids_a), (columns_b, ids_b)):
        sums, counts = _per_identity(cols, ids)
        keep = np.all([~np.isnan(np.asarray(c, np.float64)) for c in cols], axis=0)
        sides.append((sums, counts, np.unique(np.asarray(ids)[keep])))
    (sums_a, counts_a, names_a), (sums_b, counts_b, names_b) = sides
    shared = np.intersect1d(names_a, names_b)
    if not len(shared):
        raise ValueError("the two sides share no identity")
    ia, ib = np.searchsorted(names_a, shared), np.searchsorted(names_b, shared)
    return [c[ia] for c in sums_a], counts_a[ia], [c[ib] for c in sums_b], counts_b[ib]


def identity_paired_difference(
    values_a: np.ndarray,
    identities_a: np.ndarray,
    values_b: np.ndarray,
    identities_b: np.ndarray,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = 0.95,
) -> dict:
    """Interval of mean(a) - mean(b) for two systems or recipes scored on the same
    identities, each on its own probes (e.g. two reports of one dataset, or Wav2Pix's
    pairs beside Speech2Face's segments): only the identities both hold count, and both
    sides are resampled with the same identity draws, so what the identities share (easy
    and hard people) cancels. On the same probes it equals :func:`paired_difference_interval`.

    Args:
        values_a, identities_a: (Ma,) per-probe values of side a (nan: not counted) and
            their identities; values_b, identities_b: the same for side b.
        n_boot, seed, level: as :func:`bootstrap_interval`.
    Returns:
        the keys of :func:`bootstrap_interval` ("n_identities": the shared ones,
        "n_segments": side a's probes of them), with "value" = mean(a) - mean(b).
    Raises:
        ValueError: no shared identity, mismatched lengths, n_boot < 1 or a bad level.
    """
    _check(n_boot, level, "mean")
    (sa,), ca, (sb,), cb = _shared_sums([values_a], identities_a, [values_b], identities_b)

    def stat(w):
        return (w @ sa) / (w @ ca) - (w @ sb) / (w @ cb)

    return _summarise(stat, ca, n_boot, seed, level)


def identity_paired_balanced_difference(
    truth_a,
    answers_a,
    identities_a,
    truth_b,
    answers_b,
    identities_b,
    n_boot=1000,
    seed=0,
    level=0.95,
) -> dict | None:
    """Interval of balanced gender accuracy(a) - (b) (:func:`balanced_accuracy_interval`)
    on the identities both sides hold, resampled with the same draws.

    Args:
        truth_*, answers_*: (M*,) "M"/"F" labels (others are left out); identities_*: (M*,).
    Returns:
        the keys of :func:`bootstrap_interval`, or None when either side lacks a gender.
    Raises:
        ValueError: as :func:`identity_paired_difference`.
    """
    cols_a, both_a = _gender_columns(truth_a, answers_a)
    cols_b, both_b = _gender_columns(truth_b, answers_b)
    if not (both_a and both_b):
        return None
    _check(n_boot, level, "mean")
    sa, counts, sb, _ = _shared_sums(cols_a, identities_a, cols_b, identities_b)
    return _summarise(lambda w: _balanced(w, sa) - _balanced(w, sb), counts, n_boot, seed, level)
