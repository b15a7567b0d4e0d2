"""Wav2Pix models: every layer's shape against the authors' sizes (issue 13), tiny configs,
serialisation, spectral norm baking, the dropout choice and the speech front end."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from speech2face.wav2pix import layers
from speech2face.wav2pix import model as w
from speech2face.wav2pix.pairs import scale_and_emphasize


def _shapes(model, prefix):
    return [tuple(x.output.shape[1:]) for x in model.layers if x.name.startswith(prefix)]


def test_speech_encoder_paper_shapes():
    enc = w.SpeechEncoder()  # the paper's sizes are the defaults
    assert _shapes(enc, "lrelu") == [
        (4000, 16),
        (1000, 32),
        (250, 128),
        (63, 256),
        (16, 512),
        (4, 1024),
    ]
    for i in range(1, 7):
        conv, pad, bn = enc.get_layer(f"conv{i}"), enc.get_layer(f"pad{i}"), enc.get_layer(f"bn{i}")
        assert conv.kernel_size == (15,) and conv.strides == (4,) and conv.padding == "valid"
        assert conv.use_bias and pad.padding == (6, 7)
        assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)
        assert enc.get_layer(f"lrelu{i}").negative_slope == pytest.approx(0.3)
    assert enc.get_layer("flatten").output.shape[1] == 4096
    assert [enc.get_layer(n).units for n in ("fc1", "fc2", "embedding")] == [256, 128, 128]
    assert enc.get_layer("fc1").activation.__name__ == "relu"
    assert enc.get_layer("embedding").activation.__name__ == "linear"


@pytest.mark.parametrize(
    "size, channels",
    [(64, [512, 256, 128, 64, 3]), (128, [1024, 512, 256, 128, 64, 3])],
)
def test_generator_paper_shapes(size, channels):
    gen = w.Generator(size, 64)
    out = _shapes(gen, "sn_deconv")
    assert [s[-1] for s in out] == channels
    assert [s[0] for s in out] == [4 * 2**i for i in range(len(channels))]
    assert gen.output.shape[1:] == (size, size, 3)
    for i, layer in enumerate(x for x in gen.layers if x.name.startswith("sn_deconv")):
        assert isinstance(layer, keras.layers.SpectralNormalization)
        conv = layer.layer
        assert conv.kernel_size == (4, 4) and not conv.use_bias
        assert conv.strides == ((1, 1) if i == 0 else (2, 2))
    assert len(_shapes(gen, "dropout")) == len(channels) - 1  # not after the output layer
    assert gen.get_layer("dropout1").rate == 0.5
    assert not any(isinstance(x, keras.layers.BatchNormalization) for x in gen.layers)


@pytest.mark.parametrize(
    "size, channels", [(64, [64, 128, 256, 512]), (128, [64, 128, 256, 512, 1024])]
)
def test_discriminator_paper_shapes(size, channels):
    disc = w.Discriminator(size, 64)
    out = _shapes(disc, "sn_conv")
    assert [s[-1] for s in out] == channels and out[-1][:2] == (4, 4)
    assert disc.get_layer("with_embedding").output.shape[1:] == (4, 4, channels[-1] + 128)
    assert disc.get_layer("score_conv").padding == "valid"
    assert not isinstance(disc.get_layer("score_conv"), keras.layers.SpectralNormalization)
    x = np.zeros((2, size, size, 3), np.float32)
    out = disc([x, np.zeros((2, 128), np.float32)])
    assert tuple(out["score"].shape) == (2,)
    assert tuple(out["features"].shape) == (2, 4, 4, channels[-1])


def test_speaker_classifier_shapes():
    clf = w.SpeakerClassifier(27)
    kinds = [type(x).__name__ for x in clf.layers[1:]]
    assert kinds == ["Dense", "BatchNormalization", "LeakyReLU", "Dense", "BatchNormalization"]
    assert clf.get_layer("fc1").units == 200 and clf.output.shape[1] == 27
    with pytest.raises(ValueError, match="2 or more identities"):
        w.SpeakerClassifier(1)


def test_tiny_configs_round_trip(tmp_path):
    """Each model rebuilt from its config, and saved and loaded, gives the same output."""
    rng = np.random.default_rng(0)
    tiny = [
        (w.SpeechEncoder((2, 2, 2, 2, 2, 4), (8, 8), 8, 16000), rng.normal(size=(2, 16000))),
        (w.Generator(64, 2, 8), rng.normal(size=(2, 8))),
        (w.Discriminator(64, 2, 8), [rng.normal(size=(2, 64, 64, 3)), rng.normal(size=(2, 8))]),
        (w.SpeakerClassifier(3, 4, 8), rng.normal(size=(2, 8))),
    ]
    for model, x in tiny:
        x = [np.asarray(v, np.float32) for v in x] if isinstance(x, list) else x.astype("float32")
        again = model.__class__.from_config(model.get_config())
        again.set_weights(model.get_weights())
        ref = keras.tree.map_structure(np.asarray, model(x))
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_allclose(a, np.asarray(b), atol=1e-6), ref, again(x)
        )
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_allclose(a, np.asarray(b), atol=1e-6), ref, loaded(x)
        )


def test_presets_and_errors():
    enc, gen, disc, clf = w.build_wav2pix(5, 64, "small")
    assert gen.output.shape[1:] == (64, 64, 3) and clf.output.shape[1] == 5
    assert enc.count_params() < w.SpeechEncoder().count_params() / 5
    with pytest.raises(ValueError, match="64 or 128"):
        w.Generator(96, 4)
    with pytest.raises(ValueError, match="unknown Wav2Pix preset"):
        w.build_wav2pix(5, 64, "huge")


def test_bake_spectral_norm_gives_unit_sigma():
    gen = w.Generator(64, 2, 8)
    for layer in layers.spectral_layers(gen):  # a kernel far from unit spectral norm
        layer.kernel.assign(layer.kernel * 50.0)
    layers.bake_spectral_norm(gen)
    for layer in layers.spectral_layers(gen):
        k = np.asarray(layer.kernel).reshape(-1, layer.kernel.shape[-1])
        assert np.linalg.norm(k, 2) == pytest.approx(1.0, rel=1e-2)


def test_dropout_off_at_inference_unless_asked():
    gen = w.Generator(64, 2, 8)
    x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    a, b = np.asarray(gen(x)), np.asarray(gen(x))
    np.testing.assert_array_equal(a, b)
    for layer in gen.layers:
        if isinstance(layer, layers.NoiseDropout):
            layer.at_inference = True
    assert not np.allclose(np.asarray(gen(x)), np.asarray(gen(x)))


def test_preprocess_is_float_abs_max_and_pre_emphasis():
    t = np.arange(16000) / 16000
    wave = (3000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    x = wave / np.abs(wave).max()
    out = scale_and_emphasize(wave)
    assert out.dtype == np.float32 and out.shape == (16000,)
    np.testing.assert_allclose(out[0], x[0], atol=1e-6)
    np.testing.assert_allclose(out[1:], x[1:] - 0.95 * x[:-1], atol=1e-5)
    # not the authors' Python 2 floor division, which fed a sign signal
    floor = np.floor_divide(wave.astype(np.int32), np.abs(wave).max())
    assert len(np.unique(floor)) <= 3 and len(np.unique(np.round(out, 4))) > 100
    np.testing.assert_array_equal(scale_and_emphasize(np.zeros((2, 16000))), 0.0)  # silence: no NaN
    batch = scale_and_emphasize(np.stack([wave, wave // 2]))
    np.testing.assert_allclose(batch[0], batch[1], atol=1e-3)  # scale-free
