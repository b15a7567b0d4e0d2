"""The speaker-encoder route: balance weights, the head, cross-validation folds and figures
(against brute-force oracles), and a GE2E bundle that fits its training identities through
`predict`, trained, saved and loaded like any bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speech2face import api
from speech2face.speech2face.evaluation import crossval, retrieval
from speech2face.speech2face.training.config import TrainConfig
from speech2face.speech2face.training.speaker_head import fit_head, sample_weights


def test_sample_weights_balance_identities_and_genders():
    ids = np.array(["a", "a", "a", "b", "c", "c"])
    genders = np.array(["M", "M", "M", "M", "F", "F"])
    np.testing.assert_allclose(sample_weights(ids, genders, "none"), 1.0)
    w = sample_weights(ids, genders, "identity")  # each identity the same total
    assert w[:3].sum() == pytest.approx(w[3]) == pytest.approx(w[4:].sum())
    w = sample_weights(ids, genders, "gender")  # each gender the same total
    assert w[genders == "M"].sum() == pytest.approx(w[genders == "F"].sum())
    np.testing.assert_allclose(w[:4], w[0])  # uniform within a gender
    w = sample_weights(ids, genders, "both")
    assert w[genders == "M"].sum() == pytest.approx(w[genders == "F"].sum())
    assert w[:3].sum() == pytest.approx(w[3])  # identities equal within the gender
    for balance in ("identity", "gender", "both"):
        assert sample_weights(ids, genders, balance).mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown balance"):
        sample_weights(ids, genders, "sideways")


def test_ridge_head_is_weighted_ridge_with_radius():
    rng = np.random.default_rng(0)
    emb, feat = rng.normal(size=(40, 6)), rng.normal(size=(40, 3)) + 5
    ids = np.repeat(np.arange(10), 4).astype(str)
    genders = np.where(np.arange(40) < 30, "M", "F")
    config = TrainConfig(voice_encoder="ge2e", head="ridge", head_alpha=2.0, calibrate_radius=False)
    head = fit_head(emb, feat, ids, genders, config)
    # oracle: the closed form of weighted ridge on the standardised arrays
    w = sample_weights(ids, genders, "gender") / 40
    mean = w @ feat
    std = np.sqrt(w @ (feat - mean) ** 2)
    e_mean = w @ emb
    e_std = np.sqrt(w @ (emb - e_mean) ** 2)
    x, z = (emb - e_mean) / e_std, (feat - mean) / std
    xc = np.hstack([x, np.ones((40, 1))])
    penalty = np.diag([2.0] * 6 + [0.0])
    # sklearn's Ridge with sample weights scales them to sum to N before solving
    beta = np.linalg.solve(
        xc.T @ (xc * (w * 40)[:, None]) + penalty, xc.T @ ((w * 40)[:, None] * z)
    )
    np.testing.assert_allclose(head.predict(emb), xc @ beta * std + mean, atol=1e-4)
    radial = TrainConfig(voice_encoder="ge2e", head="ridge", head_alpha=2.0, radius_scale=0.5)
    radial = fit_head(emb, feat, ids, genders, radial)
    norms = np.linalg.norm(radial.standard(emb), axis=1)
    np.testing.assert_allclose(norms, radial.radius, rtol=1e-5)
    typical = np.sqrt(np.average(np.sum(z**2, 1), weights=w))
    assert radial.radius == pytest.approx(0.5 * typical)


def test_folds_are_disjoint_stratified_and_cover_every_identity():
    ids = np.array([f"m{i}" for i in range(12)] + [f"f{i}" for i in range(6)])
    genders = np.array(["M"] * 12 + ["F"] * 6)
    folds = crossval.folds_by_identity(np.repeat(ids, 2), np.repeat(genders, 2), 3, seed=1)
    assert sorted(np.concatenate(folds)) == sorted(ids)
    assert all(len(f) == 6 for f in folds)
    assert [sum(n.startswith("f") for n in f) for f in folds] == [2, 2, 2]
    other = crossval.folds_by_identity(np.repeat(ids, 2), np.repeat(genders, 2), 3, seed=2)
    assert [list(f) for f in folds] != [list(f) for f in other]
    with pytest.raises(ValueError, match="cannot make"):
        crossval.folds_by_identity(ids[:2], genders[:2], 3, seed=0)


def test_balanced_accuracy_matches_sklearn():
    from sklearn.metrics import balanced_accuracy_score

    from speech2face.evaluation.intervals import balanced_accuracy

    rng = np.random.default_rng(3)
    truth = rng.choice(["M", "F"], 50, p=[0.8, 0.2])
    pred = rng.choice(["M", "F"], 50)
    assert balanced_accuracy(truth, pred) == pytest.approx(balanced_accuracy_score(truth, pred))
    assert balanced_accuracy(truth, np.full(50, "M")) == pytest.approx(0.5)


@pytest.mark.slow
def test_ge2e_bundle_fits_its_training_identities_through_predict(
    prepared, decoder_run, data_dir, tmp_path
):
    from speech2face.dataset.sources.folder import manifest_clips

    model = api.train(prepared.root, decoder_run, tmp_path / "bundle", voice_encoder="ge2e")
    bundle = json.loads((tmp_path / "bundle" / "bundle.json").read_text())
    assert bundle["voice_front_end"] == {"voice_encoder": "ge2e", "vad": True}
    assert bundle["train"]["balance"] == "gender" and bundle["train"]["head"] == "gender_ridge"
    # every training clip, as a user gives it: whole file, VAD, 6 s windows averaged
    train = prepared.load("train", ("feature", "identity"))
    names = sorted(set(train["identity"]))
    gallery = np.stack([train["feature"][train["identity"] == n].mean(0) for n in names])
    clips = [c for c in manifest_clips(data_dir / "manifest.csv") if c.split == "train"]
    hits = []
    for clip in clips:
        _, feature = model.predict(clip.sidecar or clip.media)
        nearest = np.argmin(retrieval.distances(feature[None], gallery, "cosine")[0])
        hits.append(names[nearest] == clip.identity)
    print(f"training clips through predict: identity recall@1 {np.mean(hits):.3f} of {len(hits)}")
    assert np.mean(hits) >= 0.9  # chance is 1/18


@pytest.mark.slow
def test_crossval_reports_every_figure_beside_chance(prepared, decoder_run, tmp_path):
    result = crossval.crossval(
        prepared.root,
        decoder_run,
        tmp_path,
        folds=3,
        recipes={"default": {}, "no radius": {"calibrate_radius": False}},
    )
    assert result["identities"] == len(prepared.identities())
    for recipe in result["recipes"].values():
        assert len(recipe["folds"]) == 3
        held_out = sum(f["identities"] for f in recipe["folds"])
        assert held_out == result["identities"]  # every identity unseen exactly once
        s = recipe["summary"]
        for key in ("gender_decoded_face", "gender_feature", "gender_pitch", "identity_recall1"):
            assert 0.0 <= s[key]["mean"] <= 1.0 and s[key]["std"] >= 0.0
        assert s["fit_identity_recall1"]["mean"] >= 0.9  # the head fits its training folds
        assert s["identity_chance"]["mean"] == pytest.approx(
            np.mean([1 / f["identities"] for f in recipe["folds"]])
        )
    table = (tmp_path / "crossval.md").read_text()
    assert "| default |" in table and "voice pitch" in table and "chance" in table


@pytest.mark.parametrize("head", ["gender_ridge", "ridge", "mlp"])
def test_keras_head_equals_the_fit_and_survives_saving(head, tmp_path):
    import keras

    from speech2face.models import load_parts, save_parts
    from speech2face.speech2face.training.speaker_head import build_model

    rng = np.random.default_rng(1)
    genders = np.repeat(["M", "F", "M", "M", "F", "M"], 5)
    emb = rng.normal(size=(30, 8)) + (genders == "F")[:, None] * 2.0
    feat = rng.normal(size=(30, 4)) + (genders == "F")[:, None] * np.array([3.0, 0, 0, -1])
    ids = np.repeat(np.arange(6), 5).astype(str)
    config = TrainConfig(voice_encoder="ge2e", head=head, head_epochs=20, head_hidden=16)
    fit = fit_head(emb, feat, ids, genders, config)
    inp = keras.Input((8,))
    model = build_model(keras.Model(inp, keras.layers.Identity()(inp)), fit)
    np.testing.assert_allclose(model.predict_on_batch(emb), fit.predict(emb), atol=1e-4)
    save_parts(model, tmp_path, "voice")
    loaded = load_parts(tmp_path, "voice")
    np.testing.assert_allclose(loaded.predict_on_batch(emb), fit.predict(emb), atol=1e-4)
    if head == "gender_ridge":  # female voices land nearer the female mean face
        pred = fit.predict(emb)
        assert np.mean(pred[genders == "F", 0]) > np.mean(pred[genders == "M", 0]) + 1.0


@pytest.mark.slow
def test_balance_weights_on_the_paper_route_and_fine_tuning_ge2e(prepared, decoder_run, tmp_path):
    from speech2face.models import load_parts
    from speech2face.speech2face.data.batches import SegmentBatches
    from speech2face.speech2face.training.voice import StepBatches, balance_weights
    from speech2face.voices import ge2e

    weights = balance_weights(prepared, "gender")
    train = prepared.load("train", ("identity", "gender"))
    per_gender = {g: sum(weights[i] for i in train["identity"][train["gender"] == g]) for g in "MF"}
    assert per_gender["M"] == pytest.approx(per_gender["F"])  # genders count equally
    batches = SegmentBatches(prepared, "train", 4, fields=("audio", "feature", "identity"))
    waves, features, w = StepBatches(batches, 0, 1, readers=0, weights=weights)[0]
    assert waves.shape == (4, 96000) and features.shape[0] == w.shape[0] == 4
    api.train(prepared.root, decoder_run, tmp_path / "paper", steps=2, balance="gender")
    bundle = json.loads((tmp_path / "paper" / "bundle.json").read_text())
    assert bundle["train"]["balance"] == "gender"
    assert bundle["voice_front_end"] == {"voice_encoder": "paper", "vad": False}
    api.train(
        prepared.root,
        decoder_run,
        tmp_path / "tuned",
        voice_encoder="ge2e",
        finetune_speaker_encoder=True,
        steps=2,
        batch_size=4,
    )
    tuned = load_parts(tmp_path / "tuned", "voice_encoder").get_layer("ge2e_partial_embeddings")
    shipped = ge2e.load_weights(ge2e.build_partial_encoder())
    kernel = tuned.layer.get_layer("ge2e_lstm1").get_weights()[0]
    assert np.abs(kernel - shipped.get_layer("ge2e_lstm1").get_weights()[0]).max() > 0
