"""VGG-Face loader: every layer is filled from a file in the keras-vggface HDF5 layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from speech2face.errors import UserError
from speech2face.faces import vggface
from tests.helpers import TINY_VGGFACE, write_vggface_file


def test_every_layer_filled(tmp_path):
    model = vggface.build_vggface(**TINY_VGGFACE)
    truth = write_vggface_file(tmp_path / vggface.WEIGHTS_FILE, model, np.random.default_rng(0))
    fresh = vggface.build_vggface(**TINY_VGGFACE)
    filled = vggface.load_weights(fresh, tmp_path / vggface.WEIGHTS_FILE)
    assert tuple(filled) == vggface.WEIGHT_LAYERS and len(filled) == 16
    for name in vggface.WEIGHT_LAYERS:
        kernel, bias = fresh.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, truth[(name, "kernel")])
        np.testing.assert_array_equal(bias, truth[(name, "bias")])
    fc7, logits = vggface.feature_model(fresh)(np.zeros((2, 32, 32, 3), np.float32))
    assert fc7.shape == (2, 32) and logits.shape == (2, 10)
    np.testing.assert_allclose(
        np.asarray(vggface.fc8_logits(fresh, fc7)), np.asarray(logits), rtol=1e-5, atol=1e-4
    )


@pytest.mark.slow
def test_paper_sizes():
    model = vggface.build_vggface()
    assert model.get_layer("fc7").units == 4096 and model.get_layer("fc8").units == 2622
    assert model.count_params() == 145_002_878  # VGG-Face's published parameter count


def test_missing_file_and_wrong_layout(tmp_path):
    model = vggface.build_vggface(**TINY_VGGFACE)
    with pytest.raises(UserError, match="keras-vggface release"):
        vggface.load_weights(model, tmp_path / "absent.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("dense_1")
    with pytest.raises(UserError, match="layer 'conv1_1' missing"):
        vggface.load_weights(model, tmp_path / "other.h5")
    big = vggface.build_vggface(**dict(TINY_VGGFACE, fc_units=64))
    write_vggface_file(tmp_path / "big.h5", big, np.random.default_rng(1))
    with pytest.raises(UserError, match="layer fc6 has shapes"):
        vggface.load_weights(model, tmp_path / "big.h5")


def test_preprocess_is_bgr_minus_mean():
    rgb = np.zeros((1, 2, 2, 3), np.float32)
    rgb[..., 0] = 200  # red
    out = vggface.preprocess(rgb)
    np.testing.assert_allclose(out[0, 0, 0], [0 - 93.594, 0 - 104.7624, 200 - 129.1863], atol=1e-3)
