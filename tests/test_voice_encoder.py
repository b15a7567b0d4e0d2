"""Voice encoder (Table 1): sizes, time-only pooling, any length, serialization."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.models import load_model
from speech2face.speech2face.models.voice_encoder import build_voice_encoder


@pytest.mark.slow
def test_paper_preset_size_and_pooling():
    model = build_voice_encoder(4096, "paper")
    n = model.count_params()
    print(f"paper voice encoder: {n:,} parameters")
    assert 150e6 < n < 175e6  # "about 160 M" (Speech2Face §3)
    # pooling is along time only: the 257 frequency bins stay until the strided convs
    assert model.get_layer("pool4").output.shape[2] == 257
    assert model.get_layer("conv9").output.shape[2] == 65
    assert [model.get_layer(f"conv{i}").filters for i in range(1, 10)] == [
        64,
        64,
        128,
        128,
        128,
        256,
        512,
        512,
        512,
    ]
    assert model.get_layer("fc1").units == 4096


def test_small_any_length_and_round_trip(tmp_path):
    model = build_voice_encoder(128, "small")
    rng = np.random.default_rng(0)
    for n in (96000, 40000):  # any input length: average over the whole time axis
        out = model(rng.normal(size=(2, n)).astype(np.float32) * 0.1)
        assert tuple(out.shape) == (2, 128)
    model.save(tmp_path / "v.keras")
    x = rng.normal(size=(2, 96000)).astype(np.float32) * 0.1
    np.testing.assert_allclose(
        np.asarray(load_model(tmp_path / "v.keras")(x)), np.asarray(model(x)), atol=1e-5
    )


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown voice encoder preset"):
        build_voice_encoder(128, "large")


def test_feature_scale_round_trip(tmp_path):
    from speech2face.speech2face.models.voice_encoder import FeatureScale

    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=8), rng.uniform(0.1, 1.0, size=8)
    model = build_voice_encoder(8, "small", feature_scale=(mean, std))
    layer = model.get_layer("feature_scale")
    assert not layer.trainable_weights  # frozen: only the network before it trains
    z = rng.normal(size=(3, 8)).astype(np.float32)
    v = np.asarray(layer(z))
    np.testing.assert_allclose(v, z * std + mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.standardize(v)), z, rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "v.keras")
    loaded = load_model(tmp_path / "v.keras").get_layer("feature_scale")
    np.testing.assert_allclose(loaded.mean, mean.astype(np.float32))
    with pytest.raises(ValueError, match="std > 0"):
        FeatureScale(mean, -std)


def test_feature_scale_radius():
    from speech2face.speech2face.models.voice_encoder import FeatureScale

    rng = np.random.default_rng(2)
    mean, std = rng.normal(size=8), rng.uniform(0.1, 1.0, size=8)
    layer = FeatureScale(mean, std, radius=3.0)
    z = rng.normal(size=(4, 8)).astype(np.float32) * np.array([[0.1], [1], [5], [20]], np.float32)
    out = np.asarray(layer(z))
    back = (out - mean) / std
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 3.0, rtol=1e-4)  # the radius
    cos = (back * z).sum(1) / np.linalg.norm(back, axis=1) / np.linalg.norm(z, axis=1)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-5)  # the direction is kept
    assert FeatureScale.from_config(layer.get_config()).radius == 3.0
    with pytest.raises(ValueError, match="radius"):
        FeatureScale(mean, std, radius=0.0)
