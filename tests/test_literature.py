"""The literature figures of `evaluate` (issue 21): SF2F galleries, matching, intervals, and
the balanced-accuracy interval against a loop over the same bootstrap draws."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.evaluation import intervals
from speech2face.evaluation.intervals import balanced_accuracy
from speech2face.speech2face.evaluation.literature import literature_figures
from speech2face.speech2face.evaluation.report import _literature_html
from speech2face.speech2face.evaluation.summary import literature_lines


def _case(n_ids=12, per=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, 16))
    ids = np.repeat([f"id{i:02d}" for i in range(n_ids)], per)
    true = centres.repeat(per, 0) + 0.1 * rng.normal(size=(n_ids * per, 16))
    pred = true + 0.8 * rng.normal(size=true.shape)
    genders = np.repeat(np.where(np.arange(n_ids) % 3 == 0, "F", "M"), per)
    return pred, true, ids, genders


def test_balanced_accuracy_interval_matches_a_loop_over_the_same_draws():
    _, _, ids, truth = _case()
    answers = truth.copy()
    answers[::4] = np.where(answers[::4] == "M", "F", "M")  # some wrong answers
    got = intervals.balanced_accuracy_interval(truth, answers, ids, n_boot=200, seed=3)
    names = np.unique(ids)
    draws = np.random.default_rng(3).integers(0, len(names), size=(200, len(names)))
    stats = []
    for draw in draws:  # the oracle: rebuild each resample and score it
        rows = np.concatenate([np.flatnonzero(ids == names[k]) for k in draw])
        stats.append(balanced_accuracy(truth[rows], answers[rows]))
    low, high = np.quantile(stats, [0.025, 0.975])
    assert got["value"] == pytest.approx(balanced_accuracy(truth, answers))
    assert got["low"] == pytest.approx(low) and got["high"] == pytest.approx(high)
    assert intervals.balanced_accuracy_interval(truth, truth, ids)["low"] == 1.0
    assert intervals.balanced_accuracy_interval(np.full(6, "M"), np.full(6, "M"), ids[:6]) is None


def test_literature_figures_carry_intervals_and_chance():
    pred, true, ids, genders = _case()
    routes = {"decoded_face_from_voice": genders}
    lit = literature_figures(pred, true, ids, genders, routes, gallery_size=100, n_boot=300)
    assert lit["sf2f"]["gallery_size"] == 12 and "fewer than 100" in lit["sf2f"]["note"]
    iv = lit["intervals"]
    for key in ("identity_recall1", "segment_recall1", "sf2f_recall1", "matching"):
        assert iv[key]["low"] <= iv[key]["value"] <= iv[key]["high"], key
        assert iv[key]["n_identities"] == 12 and iv[key]["n_segments"] == 36
    assert iv["identity_recall1"]["value"] == pytest.approx(iv["sf2f_recall1"]["value"])
    assert iv["gender_decoded_face_from_voice"]["value"] == 1.0
    assert 0.5 < iv["matching"]["value"] <= 1.0  # predictions near their own face
    small = literature_figures(pred, true, ids, genders, gallery_size=5, n_boot=50)
    assert small["sf2f"]["galleries"] == 2 and small["sf2f"]["identities_dropped"] == 2
    # per-probe values, in input order, behind each rate (for probes_<split>.csv)
    per = lit["per_probe"]
    for key in ("identity_recall1", "segment_recall1", "matching"):
        assert per[key].shape == (36,) and np.nanmean(per[key]) == pytest.approx(iv[key]["value"])
    dropped = small["per_probe"]["sf2f_recall1"]
    names = np.unique(ids.astype(str))
    left_out = ~np.isin(ids.astype(str), names[:10])  # 2 identities after 2 galleries of 5
    assert np.isnan(dropped[left_out]).all() and not np.isnan(dropped[~left_out]).any()
    assert np.nanmean(dropped) == pytest.approx(small["intervals"]["sf2f_recall1"]["value"])
    m = {"literature": lit}
    text = "\n".join(literature_lines(m))
    assert "95 % intervals: bootstrap over identities (12 identities, 36 segments" in text
    assert f"{iv['matching']['value']:.3f} [{iv['matching']['low']:.3f}" in text
    html = _literature_html(m)
    assert "95 % interval" in html and f"[{iv['sf2f_recall1']['low']:.3f}," in html
