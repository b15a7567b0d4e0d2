"""The shipped default model: within its budget, documented, intact, and used by `predict`
when no --model is given."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from speech2face.speech2face.bundle import BUNDLE_FILE, DEFAULT_BUNDLE, read_config

MAX_BYTES = 20 * 2**20


def test_shipped_bundle_is_small_intact_and_documented():
    files = [p for p in DEFAULT_BUNDLE.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    config = read_config(DEFAULT_BUNDLE, verify=True)  # sizes and sha256 of every file
    assert config["voice_front_end"]["voice_encoder"] == "ge2e"
    assert "/work/" not in (DEFAULT_BUNDLE / BUNDLE_FILE).read_text()  # no machine paths
    card = (DEFAULT_BUNDLE / "MODEL_CARD.md").read_text()
    for section in ("## Data", "## Recipe", "## Figures", "## Limits", "## Intended use"):
        assert section in card, section
    assert "non-commercial" in card and "__" not in card  # no placeholder left
    metrics = config["decoder_metrics"]  # the decoder's test figures it shipped with
    assert metrics["by_source"] and metrics["faces"] > 0


def test_inference_backend_leaves_a_chosen_backend(monkeypatch):
    from speech2face.speech2face.cli.results import inference_backend

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert inference_backend() is None and os.environ["KERAS_BACKEND"] == "tensorflow"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setitem(sys.modules, "keras", sys.modules.get("keras", object()))
    assert inference_backend() is None and "KERAS_BACKEND" not in os.environ


@pytest.mark.slow
def test_predict_without_a_model_uses_the_shipped_one(data_dir, tmp_path, capsys):
    """The 10 test voices of the sample (people the model never heard): a face each, and the
    faces carry the speakers' gender (judged by the offline face judges)."""
    from speech2face import faces
    from speech2face.cli import main
    from speech2face.dataset.sources.folder import manifest_clips
    from speech2face.faces.predicted import predicted_to_crops
    from speech2face.speech2face.evaluation.face_judges import load_judges

    clips = [c for c in manifest_clips(data_dir / "manifest.csv") if c.split == "test"]
    voices = [str(c.sidecar or c.media) for c in clips]
    assert main(["predict", *voices, "-o", str(tmp_path)]) == 0
    assert "no --model given: using the shipped default model" in capsys.readouterr().out
    with open(tmp_path / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(voices) == 10
    images = np.stack([faces.read_image(tmp_path / r["face"]) for r in rows])
    assert images.std() > 10  # faces, not the plain background
    described = faces.get_encoder("dlib").encode(predicted_to_crops(images / 255.0))
    judged = load_judges().predict(described)["gender"]
    truth = {c.identity: c.gender for c in clips}
    by_voice = {str(c.sidecar or c.media): c.identity for c in clips}
    right = [judged[i] == truth[by_voice[r["voice"]]] for i, r in enumerate(rows)]
    assert np.mean(right) >= 0.7, right
    assert json.loads((DEFAULT_BUNDLE / BUNDLE_FILE).read_text())["train"]["head"]

    # a cold `predict` (a fresh process: Keras's numpy backend, see inference_backend) draws
    # the faces of the TensorFlow backend used in this process, to a grey level
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    cold = tmp_path / "cold"
    cmd = [sys.executable, "-m", "speech2face", "predict", rows[0]["voice"], "-o", str(cold)]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    again = faces.read_image(cold / rows[0]["face"]).astype(int)
    assert np.abs(again - images[0].astype(int)).max() <= 2


@pytest.mark.slow
def test_shipped_decoder_renders_bicubically_and_keeps_more_detail(prepared):
    """The same texture and landmarks, resampled bicubically (the shipped render) vs
    bilinearly: the faces of the sample's unseen test identities keep more of a real face's
    Laplacian detail, and dlib re-identifies them as well."""
    from speech2face import faces
    from speech2face.speech2face.evaluation.decoder_quality import decoder_quality
    from speech2face.speech2face.inference import Speech2Face
    from speech2face.speech2face.training.decoder_faces import canonical_faces, gather_faces

    test = canonical_faces(gather_faces(prepared, (), "test"), np.inf)
    encoder = faces.get_encoder("dlib")
    quality = {}
    for how in ("bicubic", "bilinear"):
        decoder = Speech2Face.load(DEFAULT_BUNDLE).face_decoder
        assert how == "bilinear" or decoder.get_layer("image").interpolation == how
        decoder.get_layer("image").interpolation = how  # before the first call traces it
        quality[how] = decoder_quality(decoder, test, encoder, test["face"].shape[1])
    cubic, linear = quality["bicubic"], quality["bilinear"]
    # measured on the 15 test segments: sharpness 0.504 -> 0.646, re-identification 0.933
    assert cubic["sharpness_ratio"] > 1.15 * linear["sharpness_ratio"], (cubic, linear)
    assert cubic["reid_top1"] >= linear["reid_top1"] - 0.07  # one face of 15 at most
