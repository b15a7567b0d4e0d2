"""`speech2face demo --quick` end to end on the real clips, then the notebook runs on it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from speech2face.cli import main
from speech2face.evaluation.probes import read_probes

pytestmark = pytest.mark.slow  # stages end to end on the real clips

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "retrieval_evaluation.ipynb"


@pytest.fixture(scope="module")
def demo_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "-o", str(out), "--data", str(data_dir)]) == 0
    return out


def test_demo_outputs(demo_run, data_dir):
    for path in (
        "dataset/dataset.json",
        "decoder/decoder.keras",
        "decoder/decoder.json",  # the shipped decoder, exported as a decoder run
        "bundle/bundle.json",
        "bundle/voice_encoder.weights.h5",
        "report/metrics.json",
        "report/index.html",
        "report/faces_test.png",
        "report/recall_test.png",
        "report/attributes_test.png",  # the face judges' confusion matrices
        "report/faces_test_seen.png",
        "report/recall_test_seen.png",
        "crossval/crossval.json",
        "crossval/crossval.md",
    ):
        assert (demo_run / path).is_file(), path
    from speech2face.dataset.sources.folder import manifest_clips

    test_clips = [c for c in manifest_clips(data_dir / "manifest.csv") if c.split == "test"]
    predictions = sorted((demo_run / "predictions").glob("*.png"))
    assert len(predictions) == len(test_clips) == 10  # one per test-split talking-face clip
    metrics = json.loads((demo_run / "report" / "metrics.json").read_text())
    assert set(metrics["protocols"]) == {"test", "test_seen"}  # both protocols
    unseen, seen = metrics["protocols"]["test"], metrics["protocols"]["test_seen"]
    assert unseen["identities"] == 9 and seen["identities"] == 18  # the train identities
    for m in (unseen, seen):
        seg = m["retrieval"]["segment"]
        assert seg["chance"]["1"] == pytest.approx(1 / seg["gallery_size"])
        assert set(m["gender"]) >= {
            "decoded_face_from_voice",
            "voice_pitch_baseline",
            "majority_baseline",
        }
        lit = m["literature"]["intervals"]  # every rate with its 95 % interval (issue 21)
        for key in ("identity_recall1", "sf2f_recall1", "matching", "gender_voice_pitch_baseline"):
            assert lit[key]["low"] <= lit[key]["value"] <= lit[key]["high"], key
        balanced = m["gender"]["balanced"]  # mean of the per-gender recalls
        assert set(balanced) >= {"decoded_face_from_voice", "voice_pitch_baseline"}
        assert all(v is None or 0.0 <= v <= 1.0 for v in balanced.values())
        assert len(m["craniofacial"]) == 13
        judged = m["attributes"]  # the offline face judges, decoded vs true faces
        assert judged["n"] == m["segments"]
        for name in ("gender", "race"):
            assert 0 <= judged[name]["agreement"] <= 1 and judged[name]["chance"] > 0
            assert np.sum(judged[name]["confusion"]) == judged["n"]
        assert judged["age"]["mae_years"] >= 0 and len(judged["age"]["confusion"]) == 7
    decoder_run = json.loads((demo_run / "decoder" / "decoder.json").read_text())
    assert decoder_run["from_bundle"].endswith("default_model")
    assert metrics["fit"]["segments"] >= 20 and "collapsed" in metrics["fit"]
    bundle = json.loads((demo_run / "bundle" / "bundle.json").read_text())
    assert bundle["voice_front_end"]["voice_encoder"] == "ge2e"  # the cross-validated route
    assert bundle["train"]["head"] == "gender_ridge" and bundle["train"]["balance"] == "gender"
    assert metrics["fit"]["recall1_identity"] >= 0.9  # fits its training identities
    summary = json.loads((demo_run / "demo.json").read_text())["summary"]
    assert any(line.startswith("cross-validated over 27 identities") for line in summary)
    assert any("gender (balanced accuracy" in line and "voice-pitch" in line for line in summary)
    assert any("face judges, decoded from voice vs true face" in line for line in summary)
    html = (demo_run / "report" / "index.html").read_text()
    assert "chance" in html and "faces_test_seen.png" in html and "training split" in html
    serve = json.loads((demo_run / "demo.json").read_text())["serve"]
    assert serve.startswith("speech2face serve --model ") and str(demo_run / "bundle") in serve


def test_a_keras_face_scorer_scores_the_rendered_faces(demo_run, tmp_path, capsys):
    """evaluate --face-scorer: a user's face-embedding model (a tiny stand-in here) embeds
    the faces rendered from voices and the real faces; the report names it."""
    import keras

    from speech2face import api

    image = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2)(image)
    scorer = keras.Model(image, keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(x)))
    scorer.save(tmp_path / "facenet_stand_in.keras")
    metrics = api.evaluate(
        demo_run / "dataset",
        demo_run / "bundle",
        tmp_path / "report",
        split="test",
        face_scorer=str(tmp_path / "facenet_stand_in.keras"),
    )
    lit = metrics["protocols"]["test"]["literature"]
    assert lit["scorer"].startswith("facenet_stand_in.keras (faces rendered from voices")
    i = lit["intervals"]["sf2f_recall1"]
    assert i["n_identities"] == 9 and i["low"] <= i["value"] <= i["high"]
    assert "facenet_stand_in.keras" in (tmp_path / "report" / "index.html").read_text()
    # the same segments scored two ways: `compare` pairs them over the 9 test identities
    probes = read_probes(tmp_path / "report" / "probes_test.csv")
    assert np.nanmean(probes["sf2f_recall1"]) == pytest.approx(i["value"])
    assert main(["compare", str(demo_run / "report"), str(tmp_path / "report")]) == 0
    demo_metrics = json.loads((demo_run / "report" / "metrics.json").read_text())
    own = demo_metrics["protocols"]["test"]["literature"]["intervals"]["sf2f_recall1"]
    line = next(x for x in capsys.readouterr().out.splitlines() if "sf2f_recall1" in x)
    assert f"{own['value'] - i['value']:+.3f}" in line and "(9 identities)" in line


def test_bundle_predicts_from_cli(demo_run, data_dir, tmp_path):
    voice = data_dir / "speech/vctk_p260/p260_00000.mp3"
    assert (
        main(["predict", str(voice), "-o", str(tmp_path), "--model", str(demo_run / "bundle")]) == 0
    )
    assert (tmp_path / "p260_00000.png").is_file()


def test_notebook_executes(demo_run):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {
        "SPEECH2FACE_REPORT": str(demo_run / "report"),
        "SPEECH2FACE_BUNDLE": str(demo_run / "bundle"),
        "MPLBACKEND": "Agg",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "R@1" in text and "chance" in text  # the retrieval table with its chance rows
    assert "95 % interval" in text and "sf2f_recall1" in text  # the literature table
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the recall curves and the example faces
