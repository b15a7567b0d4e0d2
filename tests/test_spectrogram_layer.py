"""The Keras Spectrogram layer equals the numpy reference and survives save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from speech2face import audio
from speech2face.speech2face.models.spectrogram import Spectrogram


@pytest.fixture(scope="module")
def waves(data_dir):
    files = ["av/vox2_a00015/00015.mp4", "speech/libri_1088/1088-129236-0000.flac"]
    return np.stack([audio.loop_pad(audio.load_audio(data_dir / f)) for f in files])


def test_linear_stft_equals_reference(waves):
    out = np.asarray(Spectrogram(power=1.0)(waves))  # power 1: sign(x)|x| = x
    ref = audio.stft(waves)
    assert out.shape == (2, 598, 257, 2)
    np.testing.assert_allclose(out[..., 0], ref.real, atol=1e-4)
    np.testing.assert_allclose(out[..., 1], ref.imag, atol=1e-4)


def test_compressed_equals_reference(waves):
    out = np.asarray(Spectrogram()(waves))
    ref = audio.spectrogram(waves)
    lin = audio.stft(waves)
    away = np.abs(np.stack([lin.real, lin.imag], -1)) > 1e-2
    np.testing.assert_allclose(out[away], ref[away], atol=1e-4)
    assert np.abs(out - ref).mean() < 1e-5


def test_any_length_and_output_shape():
    layer = Spectrogram()
    x = np.random.default_rng(0).standard_normal((3, 16000)).astype("float32")
    assert tuple(layer(x).shape) == (3, 98, 257, 2)
    assert layer.compute_output_shape((None, 96000)) == (None, 598, 257, 2)


def test_save_and_load_round_trip(tmp_path, waves):
    inputs = keras.Input((None,))
    model = keras.Model(inputs, Spectrogram(name="spec")(inputs))
    path = tmp_path / "spec.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("spec"), Spectrogram)
    assert loaded.get_layer("spec").get_config()["power"] == 0.3
    np.testing.assert_allclose(np.asarray(loaded(waves)), np.asarray(model(waves)), atol=1e-6)
