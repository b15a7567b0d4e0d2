"""sparse_image_warp: identity, translation, spline vs scipy, gradients, backends."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.speech2face.models.warp import (
    boundary_points,
    interpolate_spline,
    sparse_image_warp,
)

RNG = np.random.default_rng(0)


def _image(b=2, h=48, w=40, c=3):
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    base = np.stack([np.sin(yy / 5.0), np.cos(xx / 7.0), (yy + xx) / (h + w)], -1)
    return np.stack([base * (i + 1) / b for i in range(b)])[..., :c].astype(np.float32)


def test_equal_points_give_input_back():
    img = _image()
    pts = RNG.uniform(5, 35, (2, 12, 2)).astype(np.float32)
    out, flow = sparse_image_warp(img, pts, pts, num_boundary_points=3)
    np.testing.assert_allclose(np.asarray(out), img, atol=1e-5)
    assert np.abs(np.asarray(flow)).max() < 1e-4


def test_pure_translation_moves_image():
    img = _image()
    src = RNG.uniform(5, 35, (2, 8, 2)).astype(np.float32)
    shift = np.array([3.0, -4.0], np.float32)  # (rows, cols)
    out, flow = sparse_image_warp(img, src, src + shift)
    out = np.asarray(out)
    # warped[dest] = image[source]: out[y, x] = img[y - 3, x + 4]
    np.testing.assert_allclose(out[:, 3:, :-4], img[:, :-3, 4:], atol=1e-4)
    np.testing.assert_allclose(np.asarray(flow)[..., 0], 3.0, atol=1e-3)


def test_boundary_points_pin_the_border():
    pts = boundary_points(10, 20, 3)
    assert pts.shape == (12, 2)  # 4 points per edge, corners shared
    assert {tuple(p) for p in pts} >= {(0, 0), (0, 19), (9, 0), (9, 19)}
    img = _image()
    src = np.array([[[24.0, 20.0]]] * 2, np.float32)
    out, flow = sparse_image_warp(img, src, src + 4.0, num_boundary_points=4)
    flow = np.asarray(flow)
    pinned = boundary_points(48, 40, 4).astype(int)
    # held still (to float32 solve precision at pixel-scale distances)
    assert np.abs(flow[:, pinned[:, 0], pinned[:, 1]]).max() < 1e-2
    border = np.concatenate([flow[:, 0], flow[:, -1], flow[:, :, 0], flow[:, :, -1]], axis=1)
    assert np.abs(border).max() < 0.05 * 4.0  # the rest of the border barely moves
    assert np.abs(flow[:, 28, 24] - 4.0).max() < 1e-2  # flows are known at the destinations


def test_spline_matches_scipy_thin_plate():
    from scipy.interpolate import RBFInterpolator

    centers = RNG.uniform(0, 64, (3, 15, 2)).astype(np.float32)
    values = RNG.normal(size=(3, 15, 2)).astype(np.float32)
    query = RNG.uniform(0, 64, (3, 200, 2)).astype(np.float32)
    ours = np.asarray(interpolate_spline(centers, values, query, order=2))
    for b in range(3):
        ref = RBFInterpolator(centers[b], values[b], kernel="thin_plate_spline")(query[b])
        np.testing.assert_allclose(ours[b], ref, atol=1e-3)


def test_gradients_finite_and_nonzero():
    tf = pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("in-process gradient test runs on the TensorFlow backend")
    img = tf.constant(_image())
    src = tf.constant(RNG.uniform(8, 32, (2, 6, 2)).astype(np.float32))
    dst = tf.Variable(src.numpy() + RNG.normal(size=(2, 6, 2)).astype(np.float32))
    img_var = tf.Variable(img)
    with tf.GradientTape() as tape:
        out, _ = sparse_image_warp(img_var, src, dst, num_boundary_points=2)
        loss = tf.reduce_sum(out * tf.constant(_image()[::-1].copy()))
    g_img, g_dst = tape.gradient(loss, [img_var, dst])
    for g in (g_img, g_dst):
        g = g.numpy()
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
