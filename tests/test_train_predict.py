"""`train` on the real dataset: kill-and-resume is exact; `predict` turns voices into faces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speech2face.cli import main
from tests.kill import kill_after_checkpoint

pytestmark = pytest.mark.slow  # stages end to end on the real clips


def _weights(bundle):
    from speech2face.models import load_parts

    return load_parts(bundle, "voice_encoder").get_weights()


def test_train_kill_resume_exact(prepared, decoder_run, tmp_path):
    args = [
        "train",
        "--data",
        str(prepared.root),
        "--decoder",
        str(decoder_run),
        "--steps",
        "6",
        "--checkpoint-every",
        "2",
    ]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    killed_at = kill_after_checkpoint(
        [*args, "-o", str(out)], out / "checkpoint" / "checkpoint.json"
    )
    assert 2 <= killed_at < 6 and not (out / "bundle.json").exists()
    assert main([*args, "-o", str(out)]) == 0
    for a, b in zip(_weights(tmp_path / "whole"), _weights(out), strict=True):
        np.testing.assert_array_equal(a, b)  # weights, optimizer, step and data order
    info = json.loads((out / "bundle.json").read_text())
    assert info["face_encoder"] == "dlib" and info["audio"]["n_fft"] == 512 and info["steps"] == 6
    hist = (tmp_path / "whole" / "history.csv").read_text().splitlines()
    assert len(hist) == 4  # header + one row per 2-step checkpoint interval


def test_predict_real_voices(prepared, decoder_run, tmp_path, data_dir, capsys):
    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                "train",
                "--data",
                str(prepared.root),
                "--decoder",
                str(decoder_run),
                "-o",
                str(bundle),
                "--steps",
                "2",
            ]
        )
        == 0
    )
    voices = [
        data_dir / "speech/libri_1088/1088-129236-0000.flac",  # 9.8 s: two windows
        data_dir / "av/grid_spk_brbk7n/brbk7n.mpg",  # 3 s video: loop-padded
        tmp_path / "missing.wav",
    ]
    out = tmp_path / "faces"
    rc = main(
        ["predict", *map(str, voices), "-o", str(out), "--model", str(bundle), "--save-features"]
    )
    assert rc == 1  # one voice failed, the others were still written
    assert "missing.wav: file not found" in capsys.readouterr().err
    from PIL import Image

    img = np.asarray(Image.open(out / "1088-129236-0000.png"))
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert np.load(out / "brbk7n.npy").shape == (128,)

    from speech2face import Speech2Face, audio

    model = Speech2Face.load(bundle)
    image, feature = model.predict(str(voices[0]))
    assert image.dtype == np.uint8 and feature.shape == (128,)
    np.testing.assert_array_equal(image, img)  # the PNG is the API's picture
    np.testing.assert_allclose(feature, np.load(out / "1088-129236-0000.npy"), atol=1e-5)
    wave = audio.load_audio(voices[0])
    np.testing.assert_allclose(model.predict(wave)[1], feature, atol=1e-5)
