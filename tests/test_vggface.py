"""VGG-Face loader: every layer is filled from a file in the keras-vggface HDF5 layout."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from speech2face.errors import UserError
from speech2face.models import vggface

TINY = dict(input_size=32, width=1 / 16, fc_units=32, classes=10)


def _write_published_layout(path, model, rng):
    """Write random weights the way Keras 2 save_weights wrote keras-vggface's file."""
    truth = {}
    with h5py.File(path, "w") as f:
        names = [layer.name for layer in model.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        for layer in model.layers:
            g = f.create_group(layer.name)
            weight_names = []
            for w, kind in zip(layer.get_weights(), ("kernel", "bias"), strict=False):
                wname = f"{layer.name}/{kind}:0"
                fan_in = np.prod(w.shape[:-1]) if kind == "kernel" else 1
                scale = np.sqrt(2.0 / fan_in) if kind == "kernel" else 0.01  # He-like, as trained
                value = (rng.standard_normal(w.shape) * scale).astype(np.float32)
                g.create_dataset(wname, data=value)
                weight_names.append(wname.encode())
                truth[(layer.name, kind)] = value
            g.attrs["weight_names"] = np.array(weight_names)
    return truth


def test_every_layer_filled(tmp_path):
    model = vggface.build_vggface(**TINY)
    truth = _write_published_layout(
        tmp_path / vggface.WEIGHTS_FILE, model, np.random.default_rng(0)
    )
    fresh = vggface.build_vggface(**TINY)
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


def test_paper_sizes():
    model = vggface.build_vggface()
    assert model.get_layer("fc7").units == 4096 and model.get_layer("fc8").units == 2622
    assert model.count_params() == 145_002_878  # VGG-Face's published parameter count


def test_missing_file_and_wrong_layout(tmp_path):
    model = vggface.build_vggface(**TINY)
    with pytest.raises(UserError, match="keras-vggface release"):
        vggface.load_weights(model, tmp_path / "absent.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_group("dense_1")
    with pytest.raises(UserError, match="layer 'conv1_1' missing"):
        vggface.load_weights(model, tmp_path / "other.h5")
    big = vggface.build_vggface(**dict(TINY, fc_units=64))
    _write_published_layout(tmp_path / "big.h5", big, np.random.default_rng(1))
    with pytest.raises(UserError, match="layer fc6 has shapes"):
        vggface.load_weights(model, tmp_path / "big.h5")


def test_preprocess_is_bgr_minus_mean():
    rgb = np.zeros((1, 2, 2, 3), np.float32)
    rgb[..., 0] = 200  # red
    out = vggface.preprocess(rgb)
    np.testing.assert_allclose(out[0, 0, 0], [0 - 93.594, 0 - 104.7624, 200 - 129.1863], atol=1e-3)
