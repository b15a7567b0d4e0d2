"""The vggface path end to end with a small VGG-Face file in the published HDF5 layout:
prepare with VGG-Face features, the decoder's identity loss, the distillation term."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from speech2face.cli import main
from speech2face.faces import vggface
from speech2face.speech2face.data.reader import Dataset
from tests.helpers import TINY_VGGFACE, write_vggface_file

pytestmark = pytest.mark.slow  # stages end to end on the real clips


def test_vggface_features_identity_loss_and_distillation(data_dir, tmp_path):
    weights = tmp_path / vggface.WEIGHTS_FILE
    write_vggface_file(weights, vggface.build_vggface(**TINY_VGGFACE), np.random.default_rng(0))
    assert vggface.architecture_of(weights) == {
        "input_size": 32,
        "width": 1 / 16,
        "fc_units": 32,
        "classes": 10,
    }
    clips = tmp_path / "clips"
    for src in (
        "av/grid_s2/pwij3p.mpg",
        "av/grid_spk_lbbc2a/lbbc2a.mpg",
        "av/grid_spk_brbk7n/brbk7n.mpg",
    ):
        (clips / (src.split("/")[1])).mkdir(parents=True)
        shutil.copy(data_dir / src, clips / src.split("/")[1])
    ds = tmp_path / "ds"
    assert (
        main(
            [
                "prepare",
                str(clips),
                "-o",
                str(ds),
                "--face-encoder",
                "vggface",
                "--vggface-weights",
                str(weights),
                "--test-fraction",
                "0",
                "--frames-per-segment",
                "1",
            ]
        )
        == 0
    )
    dataset = Dataset(ds)
    assert dataset.face_encoder == "vggface" and dataset.feature_dim == 32
    assert np.isfinite(dataset.load("train", ("feature",))["feature"]).all()

    dec = tmp_path / "dec"
    from speech2face.speech2face.training.decoder import DecoderConfig, train_decoder

    train_decoder(
        ds, dec, config=DecoderConfig(epochs=2, batch_size=2, vggface_weights=str(weights))
    )
    assert json.loads((dec / "decoder.json").read_text())["identity_loss"] is True
    with open(dec / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert np.isfinite(float(row["identity_loss"]))

    bundle = tmp_path / "bundle"
    assert (
        main(
            [
                "train",
                "--data",
                str(ds),
                "--decoder",
                str(dec),
                "-o",
                str(bundle),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--vggface-weights",
                str(weights),
            ]
        )
        == 0
    )
    with open(bundle / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert float(row["distill_term"]) > 0  # λ2 · KD on fc8 logits is on with VGG-Face
