"""Differentiable sparse image warping in backend-agnostic ``keras.ops``.

Same semantics as tensorflow-addons' ``tfa.image.sparse_image_warp`` (which no longer
installs with TF >= 2.16), as used by Cole et al. (CVPR 2017) to render a face from a
texture and landmarks: the displacements at the control points are interpolated over the
whole image with a polyharmonic spline, then the image is resampled so that
``warped[dest] = image[source]``: bilinearly as tfa does, or bicubically (Keys' cubic
convolution), which keeps the fine detail a bilinear resampling averages away (at half a
pixel's offset bilinear weights are a [0.5, 0.5] blur). Coordinates are (row, col) in
pixels, as in tfa.
"""

from __future__ import annotations

import numpy as np
from keras import ops

EPSILON = 1e-10  # floor of squared distances inside the log of the spline kernel
INTERPOLATIONS = ("bilinear", "bicubic")
KEYS_A = -0.5  # Keys (1981) cubic convolution parameter, as PIL, Matlab and tf.image "bicubic"


def boundary_points(height: int, width: int, num_boundary_points: int) -> np.ndarray:
    """Points along the image border, pinned at zero displacement (tfa's layout).

    As tfa: with n = ``num_boundary_points`` > 0, each edge gets n + 1 evenly spaced points
    including both corners; 0 means none.

    Returns:
        (4 * n, 2) float32 (row, col) points.
    """
    if num_boundary_points <= 0:
        return np.zeros((0, 2), np.float32)
    per_edge = num_boundary_points - 1
    rows = np.linspace(0, height - 1, per_edge + 2)
    cols = np.linspace(0, width - 1, per_edge + 2)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    edge = (xx == 0) | (xx == width - 1) | (yy == 0) | (yy == height - 1)
    return np.stack([yy[edge], xx[edge]], axis=-1).astype(np.float32)


def _phi(sq_dist, order: int):
    """Polyharmonic kernel of squared distances (tfa ``_phi``)."""
    if order == 1:
        return ops.sqrt(ops.maximum(sq_dist, EPSILON))
    if order == 2:
        return 0.5 * sq_dist * ops.log(ops.maximum(sq_dist, EPSILON))
    if order == 4:
        return 0.5 * ops.square(sq_dist) * ops.log(ops.maximum(sq_dist, EPSILON))
    if order % 2 == 0:
        raise ValueError(f"even interpolation_order other than 2 and 4 unsupported: {order}")
    return ops.power(ops.maximum(sq_dist, EPSILON), 0.5 * order)


def _sq_dist(a, b):
    """(B, N, D), (B, M, D) -> (B, N, M) squared Euclidean distances."""
    diff = ops.expand_dims(a, 2) - ops.expand_dims(b, 1)
    return ops.sum(ops.square(diff), axis=-1)


def solve_spline(centers, values, order: int = 2, regularization_weight: float = 0.0):
    """Polyharmonic spline through ``values`` at ``centers`` (with an affine term).

    Args:
        centers: (B, N, D) float32. values: (B, N, K) float32.
    Returns:
        (w (B, N, K), v (B, D + 1, K)): kernel and affine weights.
    """
    n, d = ops.shape(centers)[1], ops.shape(centers)[2]
    batch = ops.shape(centers)[0]
    a = _phi(_sq_dist(centers, centers), order)
    if regularization_weight > 0:
        a = a + regularization_weight * ops.eye(n, dtype=a.dtype)
    ones = ops.ones((batch, n, 1), dtype=centers.dtype)
    b = ops.concatenate([centers, ones], axis=-1)  # (B, N, D+1)
    top = ops.concatenate([a, b], axis=-1)
    bottom = ops.concatenate(
        [ops.transpose(b, (0, 2, 1)), ops.zeros((batch, d + 1, d + 1), dtype=a.dtype)], axis=-1
    )
    lhs = ops.concatenate([top, bottom], axis=1)
    rhs = ops.concatenate(
        [values, ops.zeros((batch, d + 1, ops.shape(values)[2]), dtype=values.dtype)], axis=1
    )
    sol = ops.solve(lhs, rhs)
    return sol[:, :n], sol[:, n:]


def interpolate_spline(centers, values, query, order: int = 2, regularization_weight: float = 0.0):
    """Evaluate the polyharmonic spline through (centers, values) at ``query``.

    Args:
        centers: (B, N, D). values: (B, N, K). query: (B, M, D). All float32.
    Returns:
        (B, M, K) interpolated values.
    """
    w, v = solve_spline(centers, values, order, regularization_weight)
    rbf = ops.matmul(_phi(_sq_dist(query, centers), order), w)
    ones = ops.ones_like(query[..., :1])
    affine = ops.matmul(ops.concatenate([query, ones], axis=-1), v)
    return rbf + affine


def dense_image_warp(image, flow, interpolation: str = "bilinear"):
    """Resample ``out[b, y, x] = image[b, y - flow[b, y, x, 0], x - flow[b, y, x, 1]]``.

    Source positions are clamped to the image (edge pixels repeat), as in tfa's
    ``dense_image_warp``. Written with ``keras.ops.take`` on the flattened image (4 gathers
    bilinear, 16 bicubic) rather than ``keras.ops.image.map_coordinates``: the latter needs
    static shapes on the TensorFlow backend (it fails inside ``Model.predict``, whose batch
    size is unknown) and interpolates along the batch and channel axes too.

    Args:
        image: (B, H, W, C) float32. flow: (B, H, W, 2) float32 (row, col) displacements.
        interpolation: "bilinear" (tfa) or "bicubic": Keys' cubic convolution with a = -0.5
            (R. Keys, "Cubic convolution interpolation for digital image processing", IEEE
            Trans. ASSP 29(6), 1981), an interpolating kernel (integer positions give the
            pixels themselves) that may overshoot the input range by a little.
    Returns:
        (B, H, W, C) float32.
    Raises:
        ValueError: an unknown interpolation.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {interpolation!r}: use one of {INTERPOLATIONS}")
    shape = ops.shape(image)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    rows = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1))
    cols = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w))
    src_r = ops.clip(rows - flow[..., 0], 0.0, ops.cast(h - 1, "float32"))
    src_c = ops.clip(cols - flow[..., 1], 0.0, ops.cast(w - 1, "float32"))
    r0, c0 = ops.floor(src_r), ops.floor(src_c)
    fr, fc = ops.expand_dims(src_r - r0, -1), ops.expand_dims(src_c - c0, -1)
    r0, c0 = ops.cast(r0, "int32"), ops.cast(c0, "int32")
    flat = ops.reshape(image, (-1, c))
    base = ops.reshape(ops.arange(b, dtype="int32") * (h * w), (-1, 1, 1))

    def gather(dr: int, dc: int):
        r = ops.clip(r0 + dr, 0, h - 1)
        col = ops.clip(c0 + dc, 0, w - 1)
        index = ops.reshape(base + r * w + col, (-1,))
        return ops.reshape(ops.take(flat, index, axis=0), ops.shape(image))

    if interpolation == "bilinear":
        top = gather(0, 0) * (1.0 - fc) + gather(0, 1) * fc
        bottom = gather(1, 0) * (1.0 - fc) + gather(1, 1) * fc
        return top * (1.0 - fr) + bottom * fr
    wr, wc = _keys_weights(fr), _keys_weights(fc)
    out = 0.0
    for i, dr in enumerate((-1, 0, 1, 2)):
        row = sum(gather(dr, dc) * wc[j] for j, dc in enumerate((-1, 0, 1, 2)))
        out = out + row * wr[i]
    return out


def _keys_weights(t):
    """Keys' cubic convolution weights of the taps at -1, 0, 1, 2 for fractional offsets
    ``t`` in [0, 1) (they sum to 1)."""
    a = KEYS_A

    def near(x):  # |x| <= 1
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a

    return far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)


def sparse_image_warp(
    image,
    source_landmarks,
    dest_landmarks,
    interpolation_order: int = 2,
    regularization_weight: float = 0.0,
    num_boundary_points: int = 0,
    interpolation: str = "bilinear",
):
    """Warp ``image`` so the pixels at ``source_landmarks`` move to ``dest_landmarks``.

    Semantics of ``tfa.image.sparse_image_warp``: the flow ``dest - source`` is known at the
    destination points (plus zero flow at ``num_boundary_points`` per image edge, which pins
    the border as Cole et al. do), interpolated densely with a polyharmonic spline of
    ``interpolation_order`` (2 = thin-plate), and applied by :func:`dense_image_warp`.
    Differentiable with respect to the image and both landmark sets.

    Args:
        image: (B, H, W, C) float32.
        source_landmarks, dest_landmarks: (B, N, 2) float32 pixel (row, col) coordinates.
        interpolation_order: spline order (1, 2, 3, 4, ...).
        regularization_weight: ridge weight added to the kernel matrix diagonal.
        num_boundary_points: border points per edge held at zero displacement.
        interpolation: how the image is resampled, see :func:`dense_image_warp`.
    Returns:
        (warped image (B, H, W, C), dense flow (B, H, W, 2)).
    Raises:
        ValueError: an unknown interpolation.
    """
    image = ops.convert_to_tensor(image, "float32")
    source = ops.convert_to_tensor(source_landmarks, "float32")
    dest = ops.convert_to_tensor(dest_landmarks, "float32")
    b, h, w = ops.shape(image)[0], ops.shape(image)[1], ops.shape(image)[2]
    flows = dest - source
    if num_boundary_points > 0:
        border = ops.convert_to_tensor(boundary_points(int(h), int(w), num_boundary_points))
        border = ops.broadcast_to(ops.expand_dims(border, 0), (b, border.shape[0], 2))
        dest = ops.concatenate([dest, border], axis=1)
        flows = ops.concatenate([flows, ops.zeros_like(border)], axis=1)
    yy, xx = np.meshgrid(np.arange(int(h)), np.arange(int(w)), indexing="ij")
    grid = np.stack([yy.ravel(), xx.ravel()], -1).astype(np.float32)
    query = ops.broadcast_to(ops.expand_dims(ops.convert_to_tensor(grid), 0), (b, grid.shape[0], 2))
    dense = interpolate_spline(dest, flows, query, interpolation_order, regularization_weight)
    flow = ops.reshape(dense, (b, h, w, 2))
    return dense_image_warp(image, flow, interpolation), flow
