"""Face decoder: shapes of every preset, f_dec, serialization, training on real faces."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from speech2face.models.face_decoder import build_face_decoder, f_dec_model

MEAN = np.random.default_rng(0).uniform(0.2, 0.8, (68, 2)).astype(np.float32)


@pytest.mark.parametrize("preset,size", [("small", 64), ("small128", 128)])
def test_shapes(preset, size):
    model = build_face_decoder(128, MEAN, preset)
    out = model(np.zeros((2, 128), np.float32))
    assert tuple(out["image"].shape) == (2, size, size, 3)
    assert tuple(out["texture"].shape) == (2, size, size, 3)
    assert tuple(out["landmarks"].shape) == (2, 68, 2)
    # untrained landmarks start at the mean landmarks
    np.testing.assert_allclose(np.asarray(out["landmarks"])[0], MEAN, atol=1e-5)


@pytest.mark.slow
def test_paper_preset_layers():
    model = build_face_decoder(4096, MEAN, "paper")
    assert model.get_layer("f_dec").units == 1000
    assert model.get_layer("texture_grid").output.shape[1:] == (14, 14, 256)
    chans = [model.get_layer(f"texture_up{i}").filters for i in range(1, 5)]
    assert chans == [256, 128, 64, 32]
    assert model.output["image"].shape[1:] == (224, 224, 3)


def test_f_dec_and_round_trip(tmp_path):
    model = build_face_decoder(128, MEAN, "small")
    x = np.random.default_rng(1).normal(size=(3, 128)).astype(np.float32)
    assert f_dec_model(model)(x).shape == (3, 256)
    model.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras")
    np.testing.assert_allclose(
        np.asarray(loaded(x)["image"]), np.asarray(model(x)["image"]), atol=1e-5
    )
    assert json.loads(loaded.to_json())  # config is plain JSON


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown decoder preset"):
        build_face_decoder(128, MEAN, "huge")
