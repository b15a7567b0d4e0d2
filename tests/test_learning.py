"""Training learns: the voice encoder fits its own training segments through `predict`, and
the speaker-classifier pretraining fits its speakers (issue 10: the collapse to one face)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from speech2face import api
from speech2face.dataset.shards import decode_audio
from speech2face.errors import UserError
from speech2face.speech2face.evaluation import retrieval

pytestmark = pytest.mark.slow  # training on the real clips, a few CPU minutes


def test_voice_encoder_fits_its_training_segments(prepared, decoder_run, tmp_path):
    # the default recipe for dlib features; 240 steps of batch 8 = 50 passes over 38 segments
    model = api.train(
        prepared.root, decoder_run, tmp_path / "bundle", steps=240, checkpoint_every=80
    )
    assert model.config["train"]["recipe"] == "dlib"
    train = prepared.load("train", ("audio", "feature", "identity"))
    pred = np.concatenate(
        [model.features(decode_audio(train["audio"][i : i + 8])) for i in range(0, 38, 8)]
    )  # inference mode: BatchNorm's moving statistics, as `predict` uses them
    r = retrieval.retrieval(pred, train["feature"], train["identity"], ks=(1,))
    recall = r["segment"]["recall"]["cosine"]["1"]
    print(f"recall@1 on its {len(pred)} training segments: {recall:.3f}")
    assert recall >= 0.9  # the mean face would score 1/38
    assert retrieval.spread(pred)["mean"] > 10.0  # not one face for every voice
    with open(tmp_path / "bundle" / "history.csv", newline="") as f:
        fit = [float(row["fit_recall1"]) for row in csv.DictReader(f)]
    assert len(fit) == 3  # the fit figure is logged every checkpoint...
    assert abs(fit[-1] - recall) <= 0.1  # ...and agrees with the bundle's own predictions


def test_pretraining_fits_its_speakers(data_dir, tmp_path):
    from speech2face.speech2face.models.voice_encoder import build_voice_encoder
    from speech2face.speech2face.training.config import PretrainConfig
    from speech2face.speech2face.training.pretrain import init_from_pretrained, speaker_windows

    speakers = tmp_path / "speech"
    speakers.mkdir()
    for name in ("libri_1088", "libri_26", "libri_27", "alsa_voice"):  # 2 F, 2 M; 10-13 s
        (speakers / name).symlink_to(data_dir / "speech" / name, target_is_directory=True)
    figures = api.pretrain(speakers, tmp_path / "pre", steps=120, batch_size=8, checkpoint_every=60)
    assert figures["speakers"] == 4 and figures["windows"] >= 8  # 6 s windows, 3 s hop
    data = speaker_windows([speakers], tmp_path / "pre", PretrainConfig())  # the cache
    model = build_voice_encoder(4, "small")
    assert init_from_pretrained(model, tmp_path / "pre") > 10
    head = model.get_layer("fc2").get_weights()[0]
    from speech2face.models import load_parts

    trained = load_parts(tmp_path / "pre", "voice_encoder")
    np.testing.assert_array_equal(
        model.get_layer("conv1").get_weights()[0], trained.get_layer("conv1").get_weights()[0]
    )
    assert not np.array_equal(head, trained.get_layer("fc2").get_weights()[0])  # head not copied
    logits = trained.predict(decode_audio(data["audio"]), batch_size=8, verbose=0)
    names = sorted(set(data["speaker"]))
    accuracy = np.mean(np.array(names)[logits.argmax(1)] == data["speaker"])
    print(f"speaker accuracy on its {len(logits)} windows: {accuracy:.3f}")
    assert accuracy >= 0.9  # chance 0.25
    wider = build_voice_encoder(4, "paper")
    with pytest.raises(UserError, match="same --preset"):
        init_from_pretrained(wider, tmp_path / "pre")
