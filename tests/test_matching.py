"""1:2 and N-way voice-face matching against brute-force loops over pairs and distractor sets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from speech2face.speech2face.evaluation.matching import TIE_TOL, voice_face_matching


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def _score(own, other):
    if abs(own - other) <= TIE_TOL:
        return 0.5
    return 1.0 if own > other else 0.0


def _data(seed: int, n_ids: int = 7, dim: int = 5, ties: bool = True):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, size=n_ids)
    ids = np.repeat(np.arange(n_ids) * 10, counts)
    true = rng.normal(size=(len(ids), dim))
    pred = true + 1.5 * rng.normal(size=true.shape)
    genders = np.repeat(rng.choice(["M", "F"], size=n_ids), counts).astype(object)
    if ties:  # exact ties: another identity's segment with the same face as segment 0
        j = int(np.flatnonzero(ids != ids[0])[0])
        true[j] = true[0]
        genders[j] = genders[0]
        genders[-1] = None  # an unknown gender
    perm = rng.permutation(len(ids))
    return pred[perm], true[perm], ids[perm], genders[perm]


def _oracle(pred, true, ids, genders):
    """Double loop over (probe, other-identity segment) pairs."""
    wins = pairs = gm_wins = gm_pairs = 0
    per_probe, per_gm, halves = [], [], []
    for i in range(len(ids)):
        own = _cos(pred[i], true[i])
        w = p = gw = gp = 0
        for j in range(len(ids)):
            if ids[j] == ids[i]:
                continue
            s = _score(own, _cos(pred[i], true[j]))
            w, p = w + s, p + 1
            if genders is not None and genders[i] in ("M", "F") and genders[j] == genders[i]:
                gw, gp = gw + s, gp + 1
        per_probe.append(w / p)
        halves.append(w % 1 == 0.5)
        per_gm.append(gw / gp if gp else np.nan)
        wins, pairs, gm_wins, gm_pairs = wins + w, pairs + p, gm_wins + gw, gm_pairs + gp
    assert genders is None or any(halves)  # the data exercise ties
    return wins / pairs, pairs, gm_wins / gm_pairs, gm_pairs, per_probe, per_gm


def test_pairs_match_a_double_loop_with_ties_and_genders():
    pred, true, ids, genders = _data(0)
    out = voice_face_matching(pred, true, ids, genders, block=4)
    acc, pairs, gm_acc, gm_pairs, per_probe, per_gm = _oracle(pred, true, ids, genders)
    assert out["pairs"] == pairs and out["gender_matched_pairs"] == gm_pairs
    assert out["accuracy"] == pytest.approx(acc, abs=1e-12)
    assert out["gender_matched_accuracy"] == pytest.approx(gm_acc, abs=1e-12)
    np.testing.assert_allclose(out["per_probe"], per_probe, atol=1e-12)
    np.testing.assert_allclose(out["per_probe_gender_matched"], per_gm, atol=1e-12)
    assert np.isnan(out["per_probe_gender_matched"][list(genders).index(None)])
    np.testing.assert_array_equal(out["probe_identity"], ids)
    # pair-weighted accuracy is not the mean of per-probe fractions
    assert out["accuracy"] != pytest.approx(np.mean(per_probe), abs=1e-9)
    assert out["chance"] == 0.5 and 0.3 < out["accuracy"] < 1


def test_tie_is_half_a_win():
    true = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    pred = np.array([[2.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    out = voice_face_matching(pred, true, np.array(["a", "b", "c"]))
    # probe 0 ties b (same face) and beats c; probe 1 ties a and beats c; probe 2 loses both
    np.testing.assert_allclose(out["per_probe"], [0.75, 0.75, 0.0])
    assert out["accuracy"] == pytest.approx(3 / 6) and out["gender_matched_accuracy"] is None


def test_result_does_not_depend_on_block():
    pred, true, ids, genders = _data(1, n_ids=12)
    ref = voice_face_matching(pred, true, ids, genders, block=512)
    for block in (1, 3, 7, 16):
        out = voice_face_matching(pred, true, ids, genders, block=block)
        for key in ("pairs", "accuracy", "gender_matched_pairs", "gender_matched_accuracy"):
            assert out[key] == ref[key], key
        assert out["n_way"] == ref["n_way"]
        np.testing.assert_array_equal(out["per_probe"], ref["per_probe"])
        np.testing.assert_array_equal(
            out["per_probe_gender_matched"], ref["per_probe_gender_matched"]
        )


def test_n_way_matches_an_enumeration_of_distractor_sets():
    pred, true, ids, _ = _data(2, n_ids=5, ties=False)
    out = voice_face_matching(pred, true, ids, n_ways=range(2, 7), block=5)
    for n in range(2, 7):
        per_probe = []
        for i in range(len(ids)):
            own = _cos(pred[i], true[i])
            others = [_cos(pred[i], true[j]) for j in range(len(ids)) if ids[j] != ids[i]]
            sets = list(itertools.combinations(others, n - 1))
            if sets:
                per_probe.append(np.mean([all(own > s for s in d) for d in sets]))
        assert out["n_way"][str(n)] == pytest.approx(np.mean(per_probe), abs=1e-12), n
        assert out["n_way_chance"][str(n)] == 1 / n
    assert out["n_way"]["6"] < out["n_way"]["2"]
    assert out["n_way"]["2"] == pytest.approx(np.mean(out["per_probe"]))


def test_perfect_and_degenerate():
    true = np.eye(6)
    ids = np.array([0, 0, 1, 1, 2, 2])
    out = voice_face_matching(true, true, ids, np.array(list("MMFFMM")))
    assert out["accuracy"] == 1.0 and out["pairs"] == 6 * 4
    assert out["gender_matched_pairs"] == 4 * 2 and out["gender_matched_accuracy"] == 1.0
    np.testing.assert_array_equal(out["per_probe_gender_matched"], [1, 1, np.nan, np.nan, 1, 1])
    assert out["n_way"]["5"] == 1.0 and out["n_way"]["6"] is None  # 4 distractors at most
    with pytest.raises(ValueError, match="two identities"):
        voice_face_matching(true, true, np.zeros(6))
    with pytest.raises(ValueError, match="one shape"):
        voice_face_matching(true, true[:, :3], ids)
    with pytest.raises(ValueError, match="genders"):
        voice_face_matching(true, true, ids, genders=np.array(["M"]))
    with pytest.raises(ValueError, match="empty"):
        voice_face_matching(np.zeros((0, 3)), np.zeros((0, 3)), np.array([]))
    with pytest.raises(ValueError, match="N >= 2"):
        voice_face_matching(true, true, ids, n_ways=(1, 2))
