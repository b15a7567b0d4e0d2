"""Precise BatchNorm: inference mode reproduces the batch statistics after re-estimation."""

from __future__ import annotations

import keras
import numpy as np

from speech2face.speech2face.training.batchnorm import batchnorm_layers, precise_batchnorm


def _model():
    inp = keras.Input((6,))
    x = keras.layers.Dense(5, name="d")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    inner = keras.Model(inp, x)
    outer_in = keras.Input((6,))
    y = keras.layers.BatchNormalization(name="bn_outer")(inner(outer_in))
    return keras.Model(outer_in, y)


def test_statistics_are_the_mean_over_batches():
    rng = np.random.default_rng(0)
    model = _model()
    assert [layer.name for layer in batchnorm_layers(model)] == ["bn", "bn_outer"]
    x = (rng.normal(size=(64, 6)) * 3 + 5).astype(np.float32)
    before = np.asarray(model.predict(x, verbose=0))  # fresh moving statistics: 0 and 1
    train_mode = np.asarray(model(x, training=True))
    assert np.abs(before - train_mode).max() > 1.0  # inference mode is far from batch mode
    weights = [w.copy() for w in model.get_weights()]
    used = precise_batchnorm(model, [x[i : i + 16] for i in range(0, 64, 16)])
    assert used == 4
    bn = model.get_layer("bn_outer")
    assert bn.momentum == 0.99  # restored
    h = np.asarray(model.layers[1](x, training=False))  # the inner model, now precise
    np.testing.assert_allclose(np.asarray(bn.moving_mean), h.mean(0), rtol=1e-4, atol=1e-4)
    after = np.asarray(model.predict(x, verbose=0))
    # mean of 4 batch variances of 16 is close to the variance of the 64: nearly batch mode
    assert np.abs(after - train_mode).max() < 0.3
    changed = [not np.allclose(a, b) for a, b in zip(weights, model.get_weights(), strict=True)]
    assert sum(changed) == 4  # only the moving means and variances of the two layers
