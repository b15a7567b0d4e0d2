"""Fit the offline face attribute judges on UTKFace and write ``face_judges.h5``.

    speech2face prepare-faces ../shared/data/utkface.csv -o runs/utkface --workers 2
    python preprocess/fit_face_judges.py runs/utkface --csv ../shared/data/utkface.csv

Fits :class:`speech2face.speech2face.evaluation.face_judges.FaceJudges` on the cache's train split
(adults by the cache's age filter), prints their figures on its test split beside the
label noise of UTKFace (the labels of its byte-identical copies, which should agree), and
writes the judges (default: the shipped file) with their sha256, to paste into
``JUDGES_SHA256``. Deterministic: the same cache gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from speech2face import integrity
from speech2face.speech2face.data.face_reader import read_faces
from speech2face.speech2face.evaluation import face_judges as fj

FIELDS = ("feature", "age", "gender", "race")


def label_noise(csv_path: str) -> dict:
    """How often UTKFace's byte-identical copies disagree: gender and race disagreement
    rates and the mean age difference over (first copy, other copy) pairs."""
    groups = defaultdict(list)
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["duplicate_group"]:
                groups[row["duplicate_group"]].append(row)
    pairs = [(g[0], other) for g in groups.values() for other in g[1:]]
    return {
        "pairs": len(pairs),
        "gender_disagree": float(np.mean([a["gender"] != b["gender"] for a, b in pairs])),
        "race_disagree": float(np.mean([a["race"] != b["race"] for a, b in pairs])),
        "age_abs_diff_years": float(
            np.mean([abs(float(a["age"]) - float(b["age"])) for a, b in pairs])
        ),
    }


def test_figures(judges: fj.FaceJudges, test: dict) -> dict:
    """Accuracy (and balanced accuracy) of gender and race, age MAE, on labelled faces."""
    from sklearn.metrics import balanced_accuracy_score as balanced_accuracy

    answer = judges.predict(test["feature"])
    known = np.isin(test["gender"], fj.GENDERS)
    race_known = np.isin(test["race"], fj.RACES)
    return {
        "faces": int(len(test["feature"])),
        "gender_accuracy": float(np.mean(answer["gender"][known] == test["gender"][known])),
        "gender_balanced": balanced_accuracy(test["gender"][known], answer["gender"][known]),
        "gender_majority": fj._majority(test["gender"][known]),
        "age_mae_years": float(np.nanmean(np.abs(answer["age"] - test["age"]))),
        "age_mae_of_mean": float(np.nanmean(np.abs(np.nanmean(test["age"]) - test["age"]))),
        "race_accuracy": float(np.mean(answer["race"][race_known] == test["race"][race_known])),
        "race_balanced": balanced_accuracy(test["race"][race_known], answer["race"][race_known]),
        "race_majority": fj._majority(test["race"][race_known]),
        "race_confusion": fj.confusion(
            test["race"][race_known], answer["race"][race_known], fj.RACES
        ),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cache", help="face cache of `speech2face prepare-faces` of UTKFace")
    p.add_argument("--csv", help="utkface.csv, for the label noise of its duplicates")
    p.add_argument("-o", "--output", default=str(fj.JUDGES_FILE), help="judges file to write")
    args = p.parse_args(argv)

    train = read_faces(args.cache, "train", fields=FIELDS)
    test = read_faces(args.cache, "test", fields=FIELDS)
    labelled = np.isin(train["gender"], fj.GENDERS) & np.isfinite(train["age"])
    train = {k: v[labelled] for k, v in train.items()}
    print(f"fitting on {len(train['age'])} train faces; testing on {len(test['age'])}")
    judges = fj.FaceJudges.fit(train["feature"], train["age"], train["gender"], train["race"])
    figures = test_figures(judges, test)
    judges.info.update(test=figures, source=Path(args.cache).name)  # no machine path
    if args.csv:
        judges.info["label_noise"] = label_noise(args.csv)
    judges.save(args.output)
    for k, v in figures.items():
        print(f"  {k}: {v}")
    if args.csv:
        print(f"  label noise of UTKFace's duplicates: {judges.info['label_noise']}")
    print(f"wrote {args.output}  sha256 {integrity.sha256(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
