"""Face decoder: shapes of every preset, f_dec, serialization, training on real faces."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from speech2face.speech2face.models.face_decoder import build_face_decoder, f_dec_model

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


def _closed_mean() -> np.ndarray:
    """Normalised mean landmarks of a closed mouth: inner lips coincide, as dlib finds them."""
    from tests.helpers import face_landmarks

    return face_landmarks(mouth_gap=0.0) / 224.0


def test_face_mask():
    from speech2face.speech2face.models.face_decoder import face_mask

    mean = _closed_mean()
    mask = face_mask(mean, 64)
    assert mask.shape == (64, 64) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0 + 1e-6
    nose = np.round(mean[30] * 64).astype(int)
    assert mask[nose[1], nose[0]] > 0.99  # inside the face
    assert mask[0, 0] < 1e-3 and mask[63, 63] < 1e-3  # corners are background
    forehead = np.round((mean[19] + mean[24]) / 2 * 64 - (0, 4)).astype(int)
    assert mask[forehead[1], forehead[0]] > 0.9  # the band above the brows is face
    hard = face_mask(mean, 64, feather=0.0)
    assert set(np.unique(hard)) == {0.0, 1.0}
    soft = (mask > 0.02) & (mask < 0.98)
    assert soft.sum() > 2 * ((hard > 0) & (hard < 1)).sum()  # a feathered edge


def test_render_lays_the_face_on_a_plain_background():
    from speech2face.speech2face.models.face_decoder import BACKGROUND, LandmarkWarp, face_mask

    mean = _closed_mean()
    layer = LandmarkWarp(mean, background=BACKGROUND)
    texture = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype(np.float32)
    # at the mean landmarks the warp is the identity: the image is the composite
    image = np.asarray(layer([texture, np.stack([mean, mean])]))
    alpha = face_mask(mean, 64)[None, :, :, None]
    np.testing.assert_allclose(
        image, texture * alpha + np.array(BACKGROUND) * (1 - alpha), atol=1e-4
    )
    np.testing.assert_allclose(image[:, 0, 0], [BACKGROUND] * 2, atol=1e-3)
    bare = LandmarkWarp(mean)  # no background: the warped texture, as decoders before it
    np.testing.assert_allclose(
        np.asarray(bare([texture, np.stack([mean, mean])])), texture, atol=1e-4
    )


def test_closed_mouths_render_with_the_render_points():
    """A predicted closed mouth (inner lips coincide) against a mean with parted lips: the
    spline through all 68 points has two control points at one place with different flows
    (ill-posed, the whole image scrambles); the render's control points leave the inner lips
    out, and only the mouth moves."""
    from speech2face.speech2face.models.face_decoder import RENDER_POINTS, LandmarkWarp
    from tests.helpers import face_landmarks

    mean = face_landmarks(mouth_gap=0.05) / 224.0
    closed = np.stack([face_landmarks(mouth_gap=0.0) / 224.0] * 2).astype(np.float32)
    texture = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype(np.float32)
    image = np.asarray(LandmarkWarp(mean, control_points=RENDER_POINTS)([texture, closed]))
    assert np.abs(image - texture).mean() < 0.1
    try:
        every = np.asarray(LandmarkWarp(mean)([texture, closed]))
    except Exception:  # a backend may raise on the singular system instead
        every = np.full_like(image, np.nan)
    assert not np.abs(every - texture).mean() < 0.1


def test_decoders_saved_before_the_mask_still_load(tmp_path):
    """A LandmarkWarp config without background / mask_feather / control_points (saved
    before them) loads and renders the bare warped texture."""
    from speech2face.speech2face.models.face_decoder import LandmarkWarp

    model = build_face_decoder(128, MEAN, "small", background=None, control_points=None)
    config = model.get_layer("image").get_config()
    for key in ("background", "mask_feather", "control_points"):
        config.pop(key)
    old = LandmarkWarp.from_config(config)
    assert old.background is None and old.control_points is None
    model.save(tmp_path / "old.keras")
    loaded = keras.models.load_model(tmp_path / "old.keras")
    x = np.random.default_rng(2).normal(size=(2, 128)).astype(np.float32)
    out = loaded(x)
    np.testing.assert_allclose(
        np.asarray(out["image"]),
        np.asarray(old([out["texture"], out["landmarks"]])),
        atol=1e-5,
    )
    new = build_face_decoder(128, MEAN, "small").get_layer("image")
    assert new.background is not None and new.control_points is not None


def test_render_interpolation_is_saved_and_old_decoders_stay_bilinear(tmp_path):
    """New decoders render bicubically (in [0, 1]); a LandmarkWarp config without the key
    (saved before it) renders bilinearly, as it did; the setting survives a save."""
    from speech2face.speech2face.models.face_decoder import RENDER_INTERPOLATION, LandmarkWarp

    model = build_face_decoder(128, MEAN, "small")
    layer = model.get_layer("image")
    assert layer.interpolation == RENDER_INTERPOLATION == "bicubic"
    config = layer.get_config()
    config.pop("interpolation")
    assert LandmarkWarp.from_config(config).interpolation == "bilinear"
    model.save(tmp_path / "new.keras")
    loaded = keras.models.load_model(tmp_path / "new.keras")
    assert loaded.get_layer("image").interpolation == "bicubic"
    x = np.random.default_rng(3).normal(size=(2, 128)).astype(np.float32)
    out = loaded(x)
    image = np.asarray(out["image"])
    assert image.min() >= 0.0 and image.max() <= 1.0
    old = LandmarkWarp.from_config(config)
    linear = np.asarray(old([out["texture"], out["landmarks"]]))
    assert 0 < np.abs(image - linear).max() < 0.5  # the same face, resampled otherwise
    with pytest.raises(ValueError, match="unknown interpolation"):
        LandmarkWarp(MEAN, interpolation="nearest")
