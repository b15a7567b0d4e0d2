"""sparse_image_warp: identity, translation, spline vs scipy, gradients, backends; the
bicubic resampling against a loop over Keys' kernel."""

from __future__ import annotations

import numpy as np
import pytest

from speech2face.speech2face.models.warp import (
    boundary_points,
    dense_image_warp,
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


def _keys(x, a=-0.5):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a if x < 2 else 0.0


def _bicubic_loop(image, flow):
    """out[b, y, x] = sum over the 4 x 4 pixels around the source of Keys weights, rows and
    columns of the source clamped to the image, as a plain loop (the oracle)."""
    b, h, w, c = image.shape
    out = np.zeros_like(image, dtype=np.float64)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                sy = min(max(y - flow[n, y, x, 0], 0), h - 1)
                sx = min(max(x - flow[n, y, x, 1], 0), w - 1)
                y0, x0 = int(np.floor(sy)), int(np.floor(sx))
                for i in range(y0 - 1, y0 + 3):
                    for j in range(x0 - 1, x0 + 3):
                        weight = _keys(sy - i) * _keys(sx - j)
                        out[n, y, x] += (
                            weight * image[n, min(max(i, 0), h - 1), min(max(j, 0), w - 1)]
                        )
    return out


def test_bicubic_matches_a_loop_over_keys_kernel():
    img = RNG.uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)
    flow = RNG.uniform(-3, 3, (2, 9, 11, 2)).astype(np.float32)
    ours = np.asarray(dense_image_warp(img, flow, "bicubic"))
    np.testing.assert_allclose(ours, _bicubic_loop(img, flow), atol=1e-5)


def test_bicubic_is_exact_on_whole_pixels_and_keeps_detail_on_half_pixels():
    img = RNG.uniform(0, 1, (1, 32, 32, 1)).astype(np.float32)
    whole = np.zeros((1, 32, 32, 2), np.float32)
    whole[..., 0], whole[..., 1] = 2.0, -1.0
    for how in ("bilinear", "bicubic"):  # both interpolate: whole pixels come back as they are
        out = np.asarray(dense_image_warp(img, whole, how))
        np.testing.assert_allclose(out[0, 2:, :-1], img[0, :-2, 1:], atol=1e-6)
    half = np.full((1, 32, 32, 2), 0.5, np.float32)

    def detail(x):  # variance of a discrete Laplacian away from the clamped border
        x = x[0, ..., 0]
        lap = x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:] - 4 * x[1:-1, 1:-1]
        return lap[3:-3, 3:-3].var()

    linear = detail(np.asarray(dense_image_warp(img, half, "bilinear")))
    cubic = detail(np.asarray(dense_image_warp(img, half, "bicubic")))
    # white noise shifted by half a pixel: bilinear averages pairs of pixels (x 1/4 of the
    # Laplacian's energy and less); the cubic kernel keeps more than half again as much
    assert linear < 0.35 * detail(img) and cubic > 1.5 * linear
    with pytest.raises(ValueError, match="unknown interpolation"):
        dense_image_warp(img, half, "nearest")
