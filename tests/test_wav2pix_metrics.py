"""Wav2Pix metrics on real faces: landmark-detection ratio, identity accuracy from dlib
descriptors, and the Fréchet distance (dlib descriptors; Inception-v3 from a weights file)."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.errors import UserError
from speech2face.faces.predicted import landmark_detection_ratio
from speech2face.wav2pix import metrics as m


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 4))
    assert m.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = rng.normal(size=(20000, 4)) + np.array([3.0, 0, 0, 4.0])
    assert m.frechet_distance(a, shifted) == pytest.approx(25.0, rel=0.02)
    wide = 2.0 * rng.normal(size=(20000, 4))  # Tr(I + 4I - 2 * 2I) = 4
    assert m.frechet_distance(a, wide) == pytest.approx(4.0, rel=0.05)
    with pytest.raises(UserError, match="two or more"):
        m.frechet_distance(a[:1], a)


def test_accuracy_plain_and_balanced():
    acc = m.accuracy(np.array(["a", "a", "a", "b"]), np.array(["a", "a", "a", "a"]))
    assert {k: acc[k] for k in ("accuracy", "balanced", "n")} == {
        "accuracy": 0.75,
        "balanced": 0.75,
        "n": 4,
    }
    # one identity: every resample is the same four pairs
    assert (acc["interval"]["low"], acc["interval"]["high"]) == (0.75, 0.75)
    acc = m.accuracy(np.array(["a", "a", "a", "a"]), np.array(["a", "a", "a", "b"]))
    assert acc["accuracy"] == 0.75 and acc["balanced"] == 0.5
    # two identities (a: 3 of 3 right, b: 0 of 1): resamples give 0, 0.75 or 1
    ci = acc["interval"]
    assert ci["n_identities"] == 2 and ci["low"] == 0.0 and ci["high"] == 1.0
    assert m.accuracy(np.array([]), np.array([]))["interval"] is None


@pytest.mark.slow
def test_metrics_on_real_faces(wav2pix_pairs):
    train = wav2pix_pairs.load("train", audio=False)
    test = wav2pix_pairs.load("test_seen", audio=False)
    ratio = landmark_detection_ratio(test["face"])
    assert ratio >= 0.9  # real crops hold a detectable face
    noise = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3)).astype(np.uint8)
    flat = np.full((4, 64, 64, 3), 128, np.uint8)
    assert landmark_detection_ratio(np.concatenate([noise, flat])) == 0.0
    d_train = m.crop_descriptors(train["face"], 1.4)
    d_test = m.crop_descriptors(test["face"], 1.4)
    assert d_train.shape == (len(train["face"]), 128) and np.isfinite(d_test).all()
    clf = m.identity_classifier(d_train, train["identity"])
    acc = m.accuracy(clf.predict(d_test), test["identity"])
    chance = 1 / len(set(train["identity"]))
    assert acc["accuracy"] >= 0.8 and acc["balanced"] >= 0.8 > 3 * chance
    # held-out real faces lie closer to the real training faces than noise does
    real_fid = m.frechet_distance(d_train, d_test)
    noise_fid = m.frechet_distance(d_train, m.crop_descriptors(noise, 1.4))
    assert real_fid < noise_fid / 2


def test_inception_weights_missing(tmp_path):
    with pytest.raises(UserError, match="not found"):
        m.InceptionFeatures(tmp_path / "nope.h5")


@pytest.mark.slow
def test_inception_fid_from_a_weights_file(tmp_path):
    import keras

    net = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3)
    )
    path = tmp_path / "inception_notop.weights.h5"
    net.save_weights(path)
    features = m.InceptionFeatures(path)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    out = features(images)
    assert out.shape == (3, 2048) and np.isfinite(out).all()
    bad = tmp_path / "bad.weights.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(bad)
    with pytest.raises(UserError, match="not Inception-v3"):
        m.InceptionFeatures(bad)


def speech2face_metrics(path, protocols=("test_seen",), names=("a", "b", "c")) -> dict:
    """Write a small `speech2face evaluate` metrics.json (its documented keys) into ``path``."""
    import json

    def protocol(split):
        return {
            "split": split,
            "protocol": f"protocol of {split}",
            "segments": 12,
            "identities": len(names),
            "identity_names": list(names),
            "retrieval": {
                "identity": {
                    "recall": {"cosine": {"1": 0.417, "5": 0.9}},
                    "chance": {"1": 0.333, "5": 1.0},
                },
                "segment": {
                    "recall": {"cosine": {"1": 0.25, "5": 0.5}},
                    "chance": {"1": 0.0833, "5": 0.4167},
                },
            },
            "gender": {
                "n": 12,
                "decoded_face_from_voice": 0.75,
                "majority_baseline": 0.583,
                "voice_pitch_baseline": 0.667,
            },
        }

    metrics = {"face_encoder": "dlib", "protocols": {s: protocol(s) for s in protocols}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def test_speech2face_block_reads_the_matching_protocol(tmp_path):
    from speech2face.wav2pix import beside as sb

    speech2face_metrics(tmp_path / "s2f", protocols=("test", "test_seen"))
    block = sb.speech2face_block(tmp_path / "s2f", "test_seen", ["b", "c", "d"])
    assert block["split"] == "test_seen" and block["protocol"] == "protocol of test_seen"
    assert block["identity_recall1"] == {"cosine": 0.417, "chance": 0.333}
    assert block["segment_recall1"] == {"cosine": 0.25, "chance": 0.0833}
    assert block["gender"] == {
        "decoded_face_from_voice": 0.75,
        "majority_baseline": 0.583,
        "voice_pitch_baseline": 0.667,
        "n": 12,
    }
    assert block["identities"] == 3 and block["segments"] == 12
    assert block["source"] == str((tmp_path / "s2f" / "metrics.json").resolve())
    shared = block["shared_identities"]
    assert shared["count"] == 2 and shared["same"] is False
    assert "differ" in shared["note"] and "only in Speech2Face: a" in shared["note"]
    same = sb.speech2face_block(tmp_path / "s2f" / "metrics.json", "test", ["c", "b", "a"])
    assert same["shared_identities"] == {"count": 3, "same": True, "note": "the same 3 identities"}


def test_speech2face_block_errors_name_the_file(tmp_path):
    import json

    from speech2face.wav2pix import beside as sb

    speech2face_metrics(tmp_path / "unseen_only", protocols=("test",))
    path = tmp_path / "unseen_only" / "metrics.json"
    with pytest.raises(UserError, match="no 'test_seen' protocol") as err:
        sb.speech2face_block(tmp_path / "unseen_only", "test_seen", ["a"])
    assert str(path) in str(err.value) and "--split-mode seen` or `both`" in str(err.value)
    with pytest.raises(UserError, match="no Speech2Face metrics.json here"):
        sb.speech2face_block(tmp_path / "missing", "test_seen", ["a"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        sb.speech2face_block(tmp_path / "bad", "test_seen", ["a"])
    old = speech2face_metrics(tmp_path / "old")  # written before identity names were listed
    del old["protocols"]["test_seen"]["identity_names"]
    (tmp_path / "old" / "metrics.json").write_text(json.dumps(old))
    shared = sb.speech2face_block(tmp_path / "old", "test_seen", ["a"])["shared_identities"]
    assert shared["count"] is None and "lists no identity names" in shared["note"]


def test_speech2face_block_carries_the_reports_intervals(tmp_path):
    """A report with 95 % intervals (issue 21): they stand beside its figures in the block
    and in the side-by-side rows; a report without them gives rows without brackets."""
    import json

    from speech2face.wav2pix import beside as sb

    metrics = speech2face_metrics(tmp_path / "s2f")
    band = {"value": 0.417, "low": 0.2, "high": 0.65, "n_identities": 3, "n_segments": 12}
    gender = {"value": 0.75, "low": 0.5, "high": 1.0, "n_identities": 3, "n_segments": 12}
    lit = {"identity_recall1": band, "gender_decoded_face_from_voice": gender}
    metrics["protocols"]["test_seen"]["literature"] = {"intervals": lit}
    metrics["protocols"]["test_seen"]["gender"]["balanced"] = {
        "decoded_face_from_voice": 0.75,
        "voice_pitch_baseline": 0.667,
    }
    (tmp_path / "s2f" / "metrics.json").write_text(json.dumps(metrics))
    block = sb.speech2face_block(tmp_path / "s2f", "test_seen", ["a", "b", "c"])
    assert block["intervals"] == lit  # segment_recall1 absent from the report: left out
    ia = {"chance": 0.333, "generated_unseen_speech": {"accuracy": 0.5, "balanced": 0.4, "n": 9}}
    ia["generated_unseen_speech"]["interval"] = {"low": 0.25, "high": 0.75}
    rows = sb.comparison_rows({"speech2face": block, "identity_accuracy": ia, "identities": 3})
    values = [value for _, value, _ in rows]
    assert values[0].startswith("0.500 [0.250, 0.750] (balanced 0.400")
    assert values[1] == "0.417 [0.200, 0.650]" and values[2] == "0.250"
    assert values[3] == "0.750 [0.500, 1.000]"
    plain = sb.speech2face_block(tmp_path / "s2f", "test_seen", ["a"])
    plain["intervals"] = {}
    assert (
        "["
        not in sb.comparison_rows({"speech2face": plain, "identity_accuracy": ia, "identities": 3})[
            1
        ][1]
    )
