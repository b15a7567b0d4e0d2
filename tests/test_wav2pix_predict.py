"""Wav2Pix after training: `wav2pix predict` and the Python API on real recordings,
`wav2pix evaluate` and its report, and the quick demo."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from speech2face.cli import main
from speech2face.evaluation.probes import read_probes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(wav2pix_pairs, tmp_path_factory):
    out = tmp_path_factory.mktemp("wav2pix_run")
    argv = [
        "wav2pix",
        "train",
        "--data",
        str(wav2pix_pairs.root),
        "-o",
        str(out),
        "--steps",
        "3",
        "--batch-size",
        "4",
    ]
    assert main(argv) == 0
    return out


def test_predict_cli_and_api(run, data_dir, tmp_path, capsys):
    from PIL import Image

    from speech2face import audio
    from speech2face.wav2pix.inference import Wav2Pix

    speech = [
        data_dir / "speech/libri_1088/1088-129236-0000.flac",  # 9.8 s: 9 windows
        data_dir / "av/grid_spk_brbk7n/brbk7n.mpg",  # a 2.98 s video
        tmp_path / "missing.wav",
    ]
    out = tmp_path / "faces"
    argv = ["wav2pix", "predict", *map(str, speech), "-o", str(out), "--model", str(run)]
    assert main([*argv, "--save-embeddings"]) == 1  # one failed, the others were written
    assert "missing.wav: file not found" in capsys.readouterr().err
    img = np.asarray(Image.open(out / "1088-129236-0000.png"))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert np.load(out / "brbk7n.npy").shape == (128,)
    model = Wav2Pix.load(run)
    image, emb = model.predict(str(speech[0]))
    np.testing.assert_array_equal(image, img)  # the PNG is the API's picture
    wave = audio.load_audio(speech[0])
    np.testing.assert_allclose(model.predict(wave)[1], emb, atol=1e-5)
    faces, embs = model.predict(wave, per_window=True)
    assert faces.shape == (9, 64, 64, 3) and embs.shape == (9, 128)
    np.testing.assert_allclose(embs.mean(0), emb, atol=1e-5)
    argv = ["wav2pix", "predict", str(speech[1]), "-o", str(out), "--model", str(run)]
    assert main([*argv, "--per-window"]) == 0
    assert len(list(out.glob("brbk7n_*.png"))) == 2  # 2.98 s: two whole windows
    with open(out / "predictions.csv", newline="") as f:  # the record has the windows too
        row = {Path(r["voice"]).name: r for r in csv.DictReader(f)}["brbk7n.mpg"]
    assert row["face"] == "brbk7n_000.png" and row["windows"] == "2"
    short = model.predict(wave[:4000])[0]  # a quarter second: repeated to fill the window
    assert short.shape == (64, 64, 3)
    noisy = Wav2Pix.load(run, stochastic=True)
    assert not np.array_equal(noisy.predict(wave)[0], noisy.predict(wave)[0])


def test_predict_gives_unique_names_and_a_record(run, data_dir, tmp_path):
    """a/x.flac and b/x.flac do not overwrite each other; predictions.csv lists both."""
    import csv
    import shutil

    source = data_dir / "speech/libri_1088/1088-129236-0000.flac"
    for folder in ("a", "b"):  # copies: the same file under two names is predicted once
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "x.flac")
    out = tmp_path / "faces"
    voices = [str(tmp_path / "a" / "x.flac"), str(tmp_path / "b" / "x.flac")]
    assert main(["wav2pix", "predict", *voices, "-o", str(out), "--model", str(run)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a__x.png", "b__x.png"]
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["face"] for r in rows) == ["a__x.png", "b__x.png"]
    assert all(int(r["windows"]) == 9 for r in rows)  # 9.8 s of 1 s windows


def test_serve_predictor(run, data_dir):
    from speech2face import audio
    from speech2face.wav2pix.inference import Wav2Pix
    from speech2face.web.analysis import wav2pix_predictor

    model = Wav2Pix.load(run)
    wave = audio.load_audio(data_dir / "av/grid_spk_brbk7n/brbk7n.mpg")
    seen = []
    face, feature = wav2pix_predictor(model).predict(wave, lambda f, text: seen.append(text))
    assert feature is None and "2 windows" in seen[0]
    np.testing.assert_array_equal(face, model.predict(wave)[0])


def test_evaluate_cli_and_report(run, wav2pix_pairs, tmp_path, capsys):
    report = tmp_path / "report"
    argv = [
        "wav2pix",
        "evaluate",
        "--data",
        str(wav2pix_pairs.root),
        "--model",
        str(run),
        "-o",
        str(report),
        "--max-pairs",
        "12",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "identity accuracy" in printed and "chance: 0.200" in printed
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["split"] == "test_seen" and metrics["identities"] == 5
    assert 12 <= metrics["pairs"]["seen"] <= 12 + 5  # and one pair of each identity
    assert 12 <= metrics["pairs"]["unseen"] <= 12 + 5
    assert metrics["landmark_detection_ratio"]["real_faces_unseen"] >= 0.9
    assert metrics["identity_accuracy"]["real_faces_unseen"]["accuracy"] >= 0.8
    assert metrics["fid_inception"] is None
    assert (report / "faces.png").is_file() and "Identity accuracy" in (
        report / "index.html"
    ).read_text()
    # each rate with its interval over identities, and the probes behind it
    unseen = metrics["identity_accuracy"]["generated_unseen_speech"]
    ci = unseen["interval"]
    assert ci["low"] <= unseen["accuracy"] <= ci["high"]
    assert unseen["accuracy"] == pytest.approx(ci["value"])
    assert ci["n_identities"] == 5 and ci["n_segments"] == unseen["n"]
    found = metrics["landmark_detection_interval"]["generated_unseen_speech"]
    ratio = metrics["landmark_detection_ratio"]["generated_unseen_speech"]
    assert found["value"] == pytest.approx(ratio)
    assert f"{unseen['accuracy']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]" in printed
    page = (report / "index.html").read_text()
    assert f"{unseen['accuracy']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}] (balanced" in page
    assert f"{found['value']:.3f} [{found['low']:.3f}, {found['high']:.3f}] (5 identities" in page
    probes = read_probes(report / "probes_test_seen.csv")
    assert len(probes["identity"]) == unseen["n"]
    assert probes["identity_accuracy"].mean() == pytest.approx(unseen["accuracy"])
    assert probes["face_found"].mean() == pytest.approx(ratio)


def test_evaluate_several_runs_gives_mean_and_spread(run, wav2pix_pairs, tmp_path, capsys):
    """Two runs (the same one twice: a deterministic generator) -> one report each and
    mean +- std over them; `compare` of the two reports differs by exactly 0."""
    out = tmp_path / "seeds"
    argv = ["wav2pix", "evaluate", "--data", str(wav2pix_pairs.root), "--model", str(run)]
    argv += [str(run), "-o", str(out), "--max-pairs", "8"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "over_runs.json").read_text())
    one = json.loads((out / f"run-0-{run.name}" / "metrics.json").read_text())
    fig = summary["figures"]["identity accuracy, unseen speech"]
    value = one["identity_accuracy"]["generated_unseen_speech"]["accuracy"]
    assert summary["runs"] == 2 and fig["values"] == [value, value]
    assert fig["mean"] == pytest.approx(value) and fig["std"] == 0.0
    assert "wav2pix over 2 runs" in printed and f"{value:.3f} +- 0.000" in printed
    a, b = out / f"run-0-{run.name}", out / f"run-1-{run.name}"
    assert main(["compare", str(a), str(b)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "identity_accuracy" in x)
    assert "+0.000  [+0.000, +0.000]" in line


def test_evaluate_beside_speech2face(run, wav2pix_pairs, tmp_path, capsys):
    from tests.test_wav2pix_metrics import speech2face_metrics

    names = ["grid_spk_bbaf2n", "mead_M030", "libri_1088"]  # two of the pairs' five + another
    s2f = speech2face_metrics(tmp_path / "s2f", ("test", "test_seen"), names)["protocols"]
    report = tmp_path / "report"
    argv = ["wav2pix", "evaluate", "--data", str(wav2pix_pairs.root), "--model", str(run)]
    argv += ["-o", str(report), "--max-pairs", "4", "--speech2face-report", str(tmp_path / "s2f")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    block_lines = printed[printed.index("Speech2Face on the same protocol") :].splitlines()
    recall_line = next(line for line in block_lines if "identity recall@1" in line)
    assert "0.417" in recall_line and "chance 0.333" in recall_line  # the report's figures
    metrics = json.loads((report / "metrics.json").read_text())
    block = metrics["speech2face"]
    given = s2f["test_seen"]["retrieval"]
    assert block["identity_recall1"]["cosine"] == given["identity"]["recall"]["cosine"]["1"]
    assert block["segment_recall1"]["chance"] == given["segment"]["chance"]["1"]
    assert block["gender"]["voice_pitch_baseline"] == 0.667 and block["identities"] == 3
    assert block["shared_identities"]["count"] == 2 and not block["shared_identities"]["same"]
    assert block["source"] == str((tmp_path / "s2f" / "metrics.json").resolve())
    page = (report / "index.html").read_text()
    assert "<h2>Speech2Face on the same protocol</h2>" in page
    assert "<td>0.417</td><td>chance 0.333</td>" in page  # identity recall@1 beside chance
    assert "majority 0.583, voice pitch 0.667" in page and "Wav2Pix: identity accuracy" in page

    speech2face_metrics(tmp_path / "unseen_only", ("test",), names)
    argv[-1] = str(tmp_path / "unseen_only")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "unseen_only" / "metrics.json") in err
    assert "no 'test_seen' protocol" in err and "run `speech2face evaluate`" in err


def test_errors_name_the_folder(tmp_path, capsys):
    assert main(["wav2pix", "predict", "x.wav", "-o", str(tmp_path), "--model", str(tmp_path)]) == 1
    assert "not a finished Wav2Pix run" in capsys.readouterr().err
    argv = ["wav2pix", "train", "--data", str(tmp_path), "-o", str(tmp_path / "r")]
    assert main(argv) == 1
    assert "not a Wav2Pix pair dataset" in capsys.readouterr().err


def test_demo_quick(data_dir, tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--system", "wav2pix", "--quick", "-o", str(out), "--data", str(data_dir)]
    assert main([*argv, "--seeds", "2"]) == 0
    printed = capsys.readouterr().out
    assert f"run `speech2face demo -o {out}` first" in printed
    result = json.loads((out / "wav2pix" / "demo.json").read_text())
    assert result["summary"][1].startswith("wav2pix on test_seen")
    assert (out / "wav2pix" / "report" / "index.html").is_file()
    # two seeds: two runs that differ, each reported, and the spread over them
    seed1 = json.loads((out / "wav2pix" / "report-seed1" / "metrics.json").read_text())
    seed0 = json.loads((out / "wav2pix" / "report" / "metrics.json").read_text())
    assert (
        json.loads((out / "wav2pix" / "run-seed1" / "run.json").read_text())["train"]["seed"] == 1
    )
    spread = result["over_runs"]["figures"]["FID (dlib), generated vs real"]
    fids = [m["fid_dlib"]["generated_unseen_vs_real_unseen"] for m in (seed0, seed1)]
    assert spread["values"] == fids and fids[0] != fids[1]
    assert spread["std"] == pytest.approx(abs(fids[0] - fids[1]) / 2**0.5)
    assert "wav2pix over 2 runs (mean +- std" in printed
    # every identity of the pairs gets a face from its held-out speech, or is named as one
    # without a held-out pair (a borderline face detection can cut it: issue 19)
    written = {p.stem for p in (out / "wav2pix" / "predictions").glob("*.png")}
    missing = set(result["identities_without_prediction"])
    from speech2face.wav2pix.pair_reader import PairDataset

    assert written | missing == set(PairDataset(out / "wav2pix" / "pairs").identities())
    assert not written & missing and len(written) >= 24  # of the 27 talking-face identities
    for name in missing:
        assert f"no held-out pair with a face for {name}" in printed
