"""The Python API: lazy names, one argument order, unknown options refused before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest

import speech2face
from speech2face.errors import UserError

HEAVY = ("keras", "tensorflow", "jax", "dlib", "cv2", "h5py")


def test_import_is_light():
    code = (
        "import sys, speech2face\n"
        "names = [speech2face.prepare, speech2face.train_decoder, speech2face.pretrain,\n"
        "         speech2face.train,\n"
        "         speech2face.evaluate, speech2face.load_model, speech2face.Speech2Face,\n"
        "         speech2face.wav2pix_train, speech2face.Wav2Pix]\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names():
    assert set(speech2face.__all__) == {
        "__version__",
        "prepare",
        "prepare_faces",
        "train_decoder",
        "pretrain",
        "train",
        "evaluate",
        "load_model",
        "Speech2Face",
        "wav2pix_prepare",
        "wav2pix_train",
        "wav2pix_evaluate",
        "load_wav2pix",
        "Wav2Pix",
    }
    assert {"prepare", "train", "Speech2Face"} <= set(dir(speech2face))
    with pytest.raises(AttributeError, match="no attribute 'predict'"):
        speech2face.predict  # noqa: B018


@pytest.mark.parametrize(
    "call, bad",
    [
        (lambda: speech2face.prepare("no/such", "out", worker=2), "worker"),
        (lambda: speech2face.prepare("no/such", "out", segment=None), "segment"),
        (lambda: speech2face.train_decoder("no/such", "out", epoch=3), "epoch"),
        (lambda: speech2face.train("no/such", "dec", "out", lr=0.1), "lr"),
        (lambda: speech2face.pretrain("no/such", "out", epochs=3), "epochs"),
        (lambda: speech2face.wav2pix_prepare("no/such", "out", frames=2), "frames"),
        (lambda: speech2face.wav2pix_train("no/such", "out", lr=0.1), "lr"),
    ],
)
def test_unknown_option_is_a_type_error(call, bad):
    with pytest.raises(TypeError, match=f"unknown option\\(s\\) {bad};"):
        call()


def test_options_reach_the_stage(tmp_path):
    # known options pass the check; the stage then reports the missing dataset by name
    with pytest.raises(UserError, match="no/such: not a folder"):
        speech2face.prepare("no/such", tmp_path, workers=2, min_rms=0.01, test_fraction=0.5)
    with pytest.raises(UserError, match="not a dataset"):
        speech2face.train_decoder(tmp_path, tmp_path / "dec", epochs=1, preset="small")


def test_load_model_names_missing_files(tmp_path):
    with pytest.raises(UserError, match="not a Speech2Face bundle .*bundle.json"):
        speech2face.load_model(tmp_path)
