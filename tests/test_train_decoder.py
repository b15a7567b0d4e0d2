"""train-decoder on the real sample faces: grids, checkpoints, resume, test metrics."""

from __future__ import annotations

import csv
import json

import pytest

from speech2face.cli import main

pytestmark = pytest.mark.slow  # stages end to end on the real clips


def test_train_decoder_resumes_and_reports(prepared, data_dir, tmp_path):
    out = tmp_path / "decoder"
    args = [
        "train-decoder",
        "--data",
        str(prepared.root),
        "-o",
        str(out),
        "--faces",
        str(data_dir / "manifest.csv"),
        "--batch-size",
        "32",
    ]
    assert main([*args, "--epochs", "2"]) == 0
    assert sorted(p.name for p in (out / "grids").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert json.loads((out / "checkpoint" / "checkpoint.json").read_text())["epoch"] == 2
    assert (out / "decoder.keras").is_file() and (out / "mean_landmarks.npy").is_file()
    assert any((out / "logs").rglob("events.out.tfevents*"))

    assert main([*args, "--epochs", "4"]) == 0  # resumes at epoch 3
    with open(out / "history.csv") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == [0, 1, 2, 3]
    losses = [float(r["texture_loss"]) for r in csv.DictReader(open(out / "history.csv"))]
    assert losses[-1] < losses[0]
    metrics = json.loads((out / "decoder_metrics.json").read_text())
    assert metrics["identities"] >= 9 and metrics["faces"] >= metrics["identities"]
    assert 0 < metrics["landmark_error_px"] < 60
    assert metrics["reid_chance"] == 1 / metrics["identities"]
    assert metrics["reid_top1_true_faces"] > 0.9
    info = json.loads((out / "decoder.json").read_text())
    assert info["identity_loss"] is False and info["face_encoder"] == "dlib"

    # the faces cache is keyed on its inputs: without --faces it is rebuilt, smaller
    assert main(args[:5] + ["--batch-size", "32", "--epochs", "4"]) == 0
    assert json.loads((out / "decoder.json").read_text())["faces"] < info["faces"]
