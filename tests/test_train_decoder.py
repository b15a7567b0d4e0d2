"""train-decoder on the real sample faces: grids, checkpoints, resume, test metrics, and
that it learns canonical faces that keep their identity."""

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
        "--frame-candidates",
        "2",
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
    for key in ("faces", "targets", "predicted"):
        assert 0 <= metrics[f"mouth_opening_{key}"] < 1
    assert 0 <= metrics["rendered_faces_found"] <= 1  # after 4 epochs dlib may find none
    rendered = metrics["mouth_opening_rendered"]
    assert (rendered is None) == (metrics["rendered_faces_found"] == 0)
    info = json.loads((out / "decoder.json").read_text())
    assert info["identity_loss"] is False and info["face_encoder"] == "dlib"
    assert info["faces_gathered"] > info["faces"]  # MEAD's strongest emotions are dropped

    # the face source was cached once, in shards with their sha256; a second run reads it
    cache = out / "face_cache" / "0-manifest"
    recorded = json.loads((cache / "faces.json").read_text())
    assert recorded["faces"] > 0 and recorded["shards"]
    shards = sorted((cache / "face_shards").glob("*.h5"))
    stamps = [p.stat().st_mtime_ns for p in shards]
    assert main([*args, "--epochs", "5"]) == 0
    assert [p.stat().st_mtime_ns for p in shards] == stamps  # not rebuilt
    # without --faces only the dataset's faces are used: fewer
    assert main(args[:5] + ["--batch-size", "32", "--epochs", "4"]) == 0
    assert json.loads((out / "decoder.json").read_text())["faces"] < info["faces"]


def test_decoder_learns_canonical_faces_that_keep_identity(prepared, data_dir, tmp_path):
    """60 epochs on the sample's train faces: faces rendered from the training features are
    re-identified by dlib (top-1 against each identity's mean feature) at >= 0.4, chance
    1/30 (measured 0.59); held-out identities at >= 0.25, chance 1/12 (measured 0.56);
    rendered mouths are closed (the targets' mouth opening is 0.015, talking ~0.1-0.3).
    Then 10 detail epochs at least double the sharpness and keep re-identification."""
    import keras

    from speech2face import faces
    from speech2face.faces.predicted import predicted_to_crops
    from speech2face.speech2face.evaluation.decoder_quality import decoder_quality, identity_top1
    from speech2face.speech2face.training.config import DecoderConfig
    from speech2face.speech2face.training.decoder import train_decoder
    from speech2face.speech2face.training.decoder_faces import gather_faces

    out = tmp_path / "decoder"
    decoder = train_decoder(
        prepared.root, out, [data_dir / "manifest.csv"], DecoderConfig(epochs=60, grid_every=30)
    )
    # every gathered training face
    gathered = gather_faces(prepared, [out / "face_cache" / "0-manifest"], "train")
    feature, identity = gathered["feature"], gathered["identity"].astype(str)
    pred = decoder.predict(feature, verbose=0, batch_size=16)
    encoder = faces.get_encoder("dlib")
    rendered = encoder.encode(predicted_to_crops(pred["image"]), pred["landmarks"] * 224)
    top1, n = identity_top1(rendered, identity, feature, identity)
    assert n >= 20 and top1 >= 0.4, (top1, n)
    held_out = json.loads((out / "decoder_metrics.json").read_text())
    assert held_out["reid_top1"] >= 3 * held_out["reid_chance"]
    assert held_out["mouth_opening_predicted"] < 0.03
    assert held_out["mouth_opening_rendered"] < 0.06
    assert sorted(p.name for p in (out / "grids").iterdir()) == [
        "epoch_001.png",
        "epoch_030.png",
        "epoch_060.png",
    ]
    assert isinstance(keras.models.load_model(out / "decoder.keras"), keras.Model)

    # then detail epochs, resumed after the 60: the faces gain fine detail (the sharpness
    # ratio of the training faces rises) and keep their identity
    before = decoder_quality(decoder, gathered, encoder, 224)
    config = DecoderConfig(epochs=60, grid_every=30, detail_epochs=10)
    detailed = train_decoder(prepared.root, out, [data_dir / "manifest.csv"], config)
    after = decoder_quality(detailed, gathered, encoder, 224)
    # measured: sharpness 0.106 -> 0.397, re-identification 0.558 -> 0.567
    assert after["sharpness_ratio"] > 2 * before["sharpness_ratio"], (before, after)
    assert after["reid_top1"] >= 0.4
    with open(out / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(70))
    assert (out / "grids" / "epoch_070.png").is_file()
    assert json.loads((out / "decoder.json").read_text())["config"]["detail_epochs"] == 10
