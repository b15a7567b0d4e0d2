"""The offline face attribute judges (age, gender, ethnicity), shipped and refitted."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from speech2face.integrity import DamagedFileError
from speech2face.speech2face.evaluation import face_judges as fj


@pytest.fixture(scope="module")
def utk_test(data_dir):
    """dlib features of 60 adult UTKFace test photos with their labels."""
    from speech2face import faces

    with open(data_dir / "utkface.csv", newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["split"] == "test" and int(r["age"]) >= 18 and not r["duplicate_group"]
        ]
    encoder = faces.get_encoder("dlib")
    out = {"feature": [], "age": [], "gender": [], "race": []}
    for r in rows[::13]:
        face = faces.find_face(faces.read_image(data_dir / "utkface" / r["file"]))
        if face is None:
            continue
        out["feature"].append(encoder.encode(face.image[None], face.landmarks[None])[0])
        out["age"].append(float(r["age"]))
        out["gender"].append(r["gender"])
        out["race"].append(r["race"])
        if len(out["age"]) == 60:
            break
    return {k: np.asarray(v) for k, v in out.items()}


def test_shipped_judges_on_unseen_utkface_photos(utk_test):
    """Photos of the test split the judges never saw: gender >= 0.85 (measured on the
    whole test split: see the file's info), age MAE <= 10 years, race above the majority."""
    judges = fj.load_judges()
    answer = judges.predict(utk_test["feature"])
    assert np.mean(answer["gender"] == utk_test["gender"]) >= 0.85
    assert np.mean(np.abs(answer["age"] - utk_test["age"])) <= 10
    race = np.mean(answer["race"] == utk_test["race"])
    _, counts = np.unique(utk_test["race"], return_counts=True)
    assert race > counts.max() / counts.sum()
    assert judges.info["test"]["gender_accuracy"] >= 0.9  # the figures it was shipped with
    assert judges.info["test"]["age_mae_years"] <= 8


def test_fit_save_load_roundtrip(utk_test, tmp_path):
    """Judges fitted on 60 faces reproduce their own answers after save/load (no pickle)."""
    judges = fj.FaceJudges.fit(
        utk_test["feature"], utk_test["age"], utk_test["gender"], utk_test["race"], hidden=16
    )
    judges.save(tmp_path / "j.h5")
    again = fj.load_judges(tmp_path / "j.h5")
    a, b = judges.predict(utk_test["feature"]), again.predict(utk_test["feature"])
    assert np.array_equal(a["gender"], b["gender"]) and np.array_equal(a["race"], b["race"])
    assert np.allclose(a["age"], b["age"])
    # fitted on them, the judges must get their own training faces mostly right
    assert np.mean(a["gender"] == utk_test["gender"]) >= 0.9
    with pytest.raises(ValueError, match="128"):
        judges.predict(utk_test["feature"][:, :5])


def test_damaged_shipped_judges_are_named(tmp_path, monkeypatch):
    bad = tmp_path / "face_judges.h5"
    bad.write_bytes(fj.JUDGES_FILE.read_bytes()[:-10])
    monkeypatch.setattr(fj, "JUDGES_FILE", bad)
    with pytest.raises(DamagedFileError, match="face_judges.h5.*reinstall"):
        fj.load_judges()


class _Fixed:
    """Judges whose answers are given: a case small enough to count by hand."""

    def __init__(self, answers):
        self.answers = answers

    def predict(self, x):
        return self.answers[int(x[0, 0])]


def test_attribute_agreement_against_brute_force():
    decoded = {
        "gender": np.array(["M", "M", "F", "F"], object),
        "race": np.array(["white", "black", "white", "asian"], object),
        "age": np.array([25.0, 41.0, 33.0, 70.0]),
    }
    true = {
        "gender": np.array(["M", "F", "F", "F"], object),
        "race": np.array(["white", "white", "white", "asian"], object),
        "age": np.array([29.0, 35.0, 33.0, 55.0]),
    }
    judges = _Fixed({0: decoded, 1: true})
    out = fj.attribute_agreement(judges, np.zeros((4, 1)), np.ones((4, 1)))
    assert out["gender"]["agreement"] == 0.75 and out["gender"]["majority"] == 0.75
    assert out["gender"]["confusion"] == [[2, 1], [0, 1]]  # rows: true F, M
    assert out["race"]["agreement"] == 0.75 and out["race"]["chance"] == 0.2
    assert out["age"]["mae_years"] == pytest.approx((4 + 6 + 0 + 15) / 4)
    assert out["age"]["mae_of_mean"] == pytest.approx(np.mean(np.abs(true["age"] - 38.0)))
    # true classes: 29 -> 20-29 (1), 35 -> 30-39 (2), 33 -> 2, 55 -> 50-59 (4);
    # decoded: 25 -> 1, 41 -> 40-49 (3), 33 -> 2, 70 -> 70+ (6)
    assert out["age"]["class_agreement"] == 0.5
    confusion = np.array(out["age"]["confusion"])
    assert confusion[1, 1] == confusion[2, 3] == confusion[2, 2] == confusion[4, 6] == 1
    assert confusion.sum() == 4
