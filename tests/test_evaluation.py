"""Evaluation protocols on small known inputs and on real landmarks and voices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from speech2face import audio
from speech2face.faces.predicted import landmark_detection_ratio
from speech2face.speech2face.evaluation import attributes, craniofacial, retrieval

RNG = np.random.default_rng(0)


def test_distances_match_scipy():
    a, b = RNG.normal(size=(5, 8)), RNG.normal(size=(7, 8))
    np.testing.assert_allclose(retrieval.distances(a, b, "cosine"), cdist(a, b, "cosine"))
    np.testing.assert_allclose(retrieval.distances(a, b, "l1"), cdist(a, b, "cityblock"))
    np.testing.assert_allclose(retrieval.distances(a, b, "l2"), cdist(a, b, "euclidean"))
    with pytest.raises(ValueError):
        retrieval.distances(a, b, "hamming")


def test_recall_at_k_by_hand():
    dist = np.array([[0.1, 0.5, 0.9], [0.2, 0.1, 0.3], [0.1, 0.2, 0.05]])
    # probe 0: true 0 at rank 0; probe 1: true 0 at rank 1; probe 2: true 1 at rank 2
    rec = retrieval.recall_at_k(dist, np.array([0, 0, 1]), ks=(1, 2, 3))
    assert rec == {"1": pytest.approx(1 / 3), "2": pytest.approx(2 / 3), "3": 1.0}


def test_retrieval_perfect_and_chance_rows():
    true = RNG.normal(size=(12, 16))
    ids = np.repeat(["a", "b", "c", "d"], 3)
    out = retrieval.retrieval(true.copy(), true, ids)
    assert out["segment"]["gallery_size"] == 12 and out["identity"]["gallery_size"] == 4
    assert out["segment"]["recall"]["cosine"]["1"] == 1.0
    assert out["identity"]["chance"]["2"] == 0.5 and out["segment"]["chance"]["1"] == 1 / 12
    # random probes: recall@K equals the share of probes whose true face ranks below K,
    # ranked here independently by sorting scipy's distances; K = N finds every face
    pred = np.random.default_rng(1).normal(size=(12, 16))
    noise = retrieval.retrieval(pred, true, ids, ks=(1, 3, 12))
    rank = np.argsort(np.argsort(cdist(pred, true), axis=1), axis=1)[np.arange(12), np.arange(12)]
    for k in (1, 3, 12):
        assert noise["segment"]["recall"]["l2"][str(k)] == pytest.approx(np.mean(rank < k))
    assert noise["segment"]["recall"]["l2"]["12"] == 1.0
    assert noise["segment"]["recall"]["l2"]["1"] < 1.0  # noise does not retrieve every face
    sim = retrieval.similarity(true, true)
    assert sim["angle_deg"]["mean"] < 1e-3 and sim["l2"]["mean"] == 0


@pytest.mark.slow
def test_craniofacial_on_real_landmarks(prepared):
    lm = prepared.load("train", fields=("landmarks",))["landmarks"]
    m = craniofacial.measures(lm)
    assert len(m) == 13 and all(v.shape == (len(lm),) for v in m.values())
    assert np.all(m["intercanthal_index"] < 1) and np.all(m["mouth_face_width_index"] < 1)
    scaled = craniofacial.measures(lm * 3.0)
    for k in m:
        np.testing.assert_allclose(m[k], scaled[k], rtol=1e-5)
    corr = craniofacial.correlations(lm, lm + RNG.normal(scale=0.01, size=lm.shape))
    assert all(v["r"] > 0.9 and v["p"] < 0.01 for v in corr.values())


@pytest.mark.slow
def test_pitch_separates_real_voices(data_dir):
    female = audio.loop_pad(audio.load_audio(data_dir / "av/grid_spk_lbbc2a/lbbc2a.mpg"))
    male = audio.loop_pad(audio.load_audio(data_dir / "av/grid_spk_bbaf2n/bbaf2n.mpg"))
    f0 = np.array([attributes.median_f0(female), attributes.median_f0(male)])
    assert 150 < f0[0] < 350 and 70 < f0[1] < 170
    threshold = attributes.best_threshold(f0, np.array(["F", "M"]))
    assert f0[1] < threshold < f0[0]
    assert list(attributes.pitch_gender(f0, threshold)) == ["F", "M"]


@pytest.mark.slow
def test_gender_classifier_on_real_faces(prepared):
    train = prepared.load("train", fields=("feature", "gender"))
    clf = attributes.gender_classifier(train["feature"], train["gender"])
    test = prepared.load("test", fields=("feature", "gender"))
    assert np.mean(clf.predict(test["feature"]) == test["gender"]) > 0.7
    with pytest.raises(ValueError):
        attributes.gender_classifier(train["feature"][:2], np.array(["M", "M"]))


@pytest.mark.slow
def test_landmark_detection_ratio(prepared):
    faces = prepared.load("test", fields=("face",))["face"][:4].astype(np.float32) / 255
    assert landmark_detection_ratio(faces) == 1.0
    assert landmark_detection_ratio(np.full((2, 64, 64, 3), 0.5, np.float32)) == 0.0
