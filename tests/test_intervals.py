"""Bootstrap intervals over identities against a loop over the same draws and exact enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from speech2face.evaluation.intervals import (
    bootstrap_distribution,
    bootstrap_interval,
    paired_difference_interval,
)


def _data(n_ids: int, seed: int, per_id=(1, 6)):
    rng = np.random.default_rng(seed)
    counts = rng.integers(*per_id, size=n_ids)
    ids = np.repeat([f"s{i}" for i in range(n_ids)], counts)
    level = np.repeat(rng.uniform(0.2, 0.8, size=n_ids), counts)  # identities differ
    values = rng.random(len(ids)) < level
    perm = rng.permutation(len(ids))
    return values[perm], ids[perm]


def _loop(values, ids, n_boot, seed, level, stat=np.mean):
    """Draw identities with the documented RNG call, pool their values, take quantiles."""
    names = np.unique(ids)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(n_boot, len(names)))
    stats = []
    for draw in draws:
        pooled = [values[ids == names[k]] for k in draw]
        stats.append(stat(pooled))
    tail = (1 - level) / 2
    return np.quantile(stats, tail), np.quantile(stats, 1 - tail)


def _pooled_mean(parts):
    return np.mean(np.concatenate(parts))


def test_matches_a_loop_over_the_same_draws():
    values, ids = _data(15, seed=0)
    out = bootstrap_interval(values, ids, n_boot=300, seed=3, level=0.9)
    low, high = _loop(values.astype(float), ids, 300, 3, 0.9, _pooled_mean)
    assert out["low"] == pytest.approx(low, abs=1e-12)
    assert out["high"] == pytest.approx(high, abs=1e-12)
    assert out["value"] == pytest.approx(values.mean())
    assert out["low"] < out["value"] < out["high"]
    assert out["n_identities"] == 15 and out["n_segments"] == len(values)
    assert (out["n_boot"], out["level"], out["seed"]) == (300, 0.9, 3)
    # each identity weighted equally
    per_id = bootstrap_interval(
        values, ids, n_boot=300, seed=3, level=0.9, statistic="identity_mean"
    )
    low, high = _loop(
        values.astype(float), ids, 300, 3, 0.9, lambda p: np.mean([x.mean() for x in p])
    )
    assert (per_id["low"], per_id["high"]) == (pytest.approx(low), pytest.approx(high))
    assert per_id["value"] == pytest.approx(np.mean([values[ids == n].mean() for n in set(ids)]))
    assert per_id["value"] != pytest.approx(out["value"])


def test_bootstrap_moments_match_exact_enumeration_on_three_identities():
    values = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.5])
    ids = np.array(["a", "a", "a", "b", "b", "c", "c", "c"])
    groups = [values[ids == n] for n in ("a", "b", "c")]
    exact = [_pooled_mean([groups[k] for k in d]) for d in itertools.product(range(3), repeat=3)]
    mean, var = np.mean(exact), np.var(exact)  # the 27 ordered draws are equally likely
    stats = bootstrap_distribution(values, ids, n_boot=20000, seed=1)
    assert stats.shape == (20000,)
    assert stats.mean() == pytest.approx(mean, abs=5 * np.sqrt(var / 20000))
    assert stats.var() == pytest.approx(var, rel=0.05)
    assert set(np.round(stats, 12)) <= set(np.round(exact, 12))  # only reachable values


def test_narrows_with_more_identities():
    widths = []
    for n in (20, 500):
        out = bootstrap_interval(*_data(n, seed=n), n_boot=400)
        widths.append(out["high"] - out["low"])
    assert widths[1] < widths[0] / 2  # ~ 1 / sqrt(n): 5x narrower


def test_resamples_identities_not_segments():
    values = np.random.default_rng(0).random(100) < 0.5
    one = bootstrap_interval(values, np.zeros(100, int))
    many = bootstrap_interval(values, np.arange(100))
    assert one["low"] == one["high"] == one["value"]  # one identity: every sample is the same
    assert many["high"] - many["low"] > 0.1 and many["value"] == one["value"]


def test_nan_values_are_ignored():
    values, ids = _data(12, seed=5)
    values = values.astype(float)
    holed = values.copy()
    holed[::4] = np.nan
    keep = ~np.isnan(holed)
    out = bootstrap_interval(holed, ids, n_boot=200)
    ref = bootstrap_interval(values[keep], ids[keep], n_boot=200)
    assert out == ref and out["n_segments"] == keep.sum()


def test_paired_difference():
    values, ids = _data(40, seed=6)
    same = paired_difference_interval(values, values.copy(), ids)
    assert same["value"] == same["low"] == same["high"] == 0.0
    rng = np.random.default_rng(7)
    a = values.astype(float)
    b = np.clip(a - 0.1 + 0.05 * rng.normal(size=len(a)), 0, 1)
    out = paired_difference_interval(a, b, ids, n_boot=300, seed=2)
    low, high = _loop(a - b, ids, 300, 2, 0.95, _pooled_mean)
    assert (out["low"], out["high"]) == (pytest.approx(low), pytest.approx(high))
    assert out["value"] == pytest.approx(a.mean() - b.mean())
    # the shared identity effects cancel: much narrower than either system's own interval
    alone = bootstrap_interval(a, ids, n_boot=300, seed=2)
    assert out["high"] - out["low"] < (alone["high"] - alone["low"]) / 3
    assert out["low"] > 0  # a is better than b


def test_bad_input():
    with pytest.raises(ValueError, match="no values"):
        bootstrap_interval(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="no values"):
        bootstrap_interval(np.array([np.nan]), np.array([1]))
    with pytest.raises(ValueError, match="one length"):
        bootstrap_interval(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="one length"):
        paired_difference_interval(np.ones(3), np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(np.ones(3), np.arange(3), level=95)
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_interval(np.ones(3), np.arange(3), statistic="median")
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_interval(np.ones(3), np.arange(3), n_boot=0)


def test_identity_paired_difference_against_a_loop_over_shared_identities():
    """Two sides with their own probes and partly different identities: the brute force
    keeps the shared identities, draws them with the documented RNG call and pools each
    side's probes of the drawn identities."""
    from speech2face.evaluation.intervals import identity_paired_difference

    va, ia = _data(12, seed=4)
    vb, ib = _data(14, seed=5)  # s0..s13: s12, s13 only on side b
    va = va.astype(float)
    va[:3] = np.nan  # not counted
    out = identity_paired_difference(va, ia, vb, ib, n_boot=200, seed=2, level=0.9)
    keep = ~np.isnan(va)
    shared = np.intersect1d(ia[keep], ib)
    draws = np.random.default_rng(2).integers(0, len(shared), size=(200, len(shared)))
    stats = []
    for draw in draws:
        a = np.concatenate([va[keep & (ia == shared[k])] for k in draw])
        b = np.concatenate([vb[ib == shared[k]] for k in draw])
        stats.append(a.mean() - b.mean())
    assert out["low"] == pytest.approx(np.quantile(stats, 0.05), abs=1e-12)
    assert out["high"] == pytest.approx(np.quantile(stats, 0.95), abs=1e-12)
    a_all = va[keep & np.isin(ia, shared)].mean()
    assert out["value"] == pytest.approx(a_all - vb[np.isin(ib, shared)].mean())
    assert out["n_identities"] == len(shared) == 12
    # on the same probes it is the paired difference
    same = identity_paired_difference(va[keep], ia[keep], vb[: keep.sum()], ia[keep], 200, 2)
    paired = paired_difference_interval(va[keep], vb[: keep.sum()], ia[keep], 200, 2)
    assert (same["low"], same["high"]) == (
        pytest.approx(paired["low"]),
        pytest.approx(paired["high"]),
    )
    with pytest.raises(ValueError, match="share no identity"):
        identity_paired_difference(va, ia, vb, np.char.add(ib, "x"))


def test_identity_paired_balanced_difference_against_a_loop():
    from speech2face.evaluation.intervals import identity_paired_balanced_difference

    rng = np.random.default_rng(7)
    ids = np.repeat([f"s{i}" for i in range(10)], 4)
    truth = np.repeat(np.array(list("MMMMMMFFFF")), 4)  # gender is per identity
    ans_a = np.where(rng.random(40) < 0.8, truth, np.where(truth == "M", "F", "M"))
    ans_b = np.where(rng.random(40) < 0.6, truth, np.where(truth == "M", "F", "M"))
    out = identity_paired_balanced_difference(truth, ans_a, ids, truth, ans_b, ids, 150, 1)
    names = np.unique(ids)

    def balanced(t, p):
        return np.mean([np.mean(p[t == g] == g) for g in "MF" if np.any(t == g)])

    draws = np.random.default_rng(1).integers(0, len(names), size=(150, len(names)))
    stats = []
    for draw in draws:
        rows = np.concatenate([np.flatnonzero(ids == names[k]) for k in draw])
        stats.append(balanced(truth[rows], ans_a[rows]) - balanced(truth[rows], ans_b[rows]))
    assert out["low"] == pytest.approx(np.quantile(stats, 0.025), abs=1e-12)
    assert out["high"] == pytest.approx(np.quantile(stats, 0.975), abs=1e-12)
    assert out["value"] == pytest.approx(balanced(truth, ans_a) - balanced(truth, ans_b))
    one_gender = np.full(40, "M")
    assert identity_paired_balanced_difference(one_gender, ans_a, ids, truth, ans_b, ids) is None
