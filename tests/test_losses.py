"""Each Speech2Face loss term against a direct numpy computation."""

from __future__ import annotations

import numpy as np

from speech2face.speech2face.training import losses

RNG = np.random.default_rng(0)
VF = RNG.normal(size=(4, 16)).astype(np.float32)
VS = RNG.normal(size=(4, 16)).astype(np.float32)
W = RNG.normal(size=(16, 10)).astype(np.float32)
B = RNG.normal(size=(10,)).astype(np.float32)
W8 = RNG.normal(size=(16, 7)).astype(np.float32)
B8 = RNG.normal(size=(7,)).astype(np.float32)


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_fdec_l1():
    ref = np.abs(np.maximum(VF @ W + B, 0) - np.maximum(VS @ W + B, 0)).sum(-1)
    np.testing.assert_allclose(np.asarray(losses.fdec_l1(VF, VS, W, B)), ref, rtol=1e-5)


def test_normalized_l2():
    a = VF / np.linalg.norm(VF, axis=-1, keepdims=True)
    b = VS / np.linalg.norm(VS, axis=-1, keepdims=True)
    ref = ((a - b) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(losses.normalized_l2(VF, VS)), ref, rtol=1e-5)
    assert np.asarray(losses.normalized_l2(VF, 3 * VF)).max() < 1e-6  # scale-free


def test_distillation():
    a, b = VF @ W8 + B8, VS @ W8 + B8
    ref = -(_softmax(a / 2) * np.log(_softmax(b / 2))).sum(-1)
    np.testing.assert_allclose(np.asarray(losses.distillation(a, b, 2.0)), ref, rtol=1e-5)


def test_full_loss_weights_and_terms():
    loss = losses.Speech2FaceLoss((W, B), (W8, B8))
    terms = {k: np.asarray(v) for k, v in loss.terms(VF, VS).items()}
    a = VF / np.linalg.norm(VF, axis=-1, keepdims=True)
    b = VS / np.linalg.norm(VS, axis=-1, keepdims=True)
    np.testing.assert_allclose(terms["norm"], 0.025 * ((a - b) ** 2).sum(-1), rtol=1e-5)
    la, lb = VF @ W8 + B8, VS @ W8 + B8
    distill = -(_softmax(la / 2) * np.log(_softmax(lb / 2))).sum(-1)
    np.testing.assert_allclose(terms["distill"], 200 * distill, rtol=1e-5)
    total = float(np.asarray(loss(VF, VS)))
    np.testing.assert_allclose(total, sum(t.mean() for t in terms.values()), rtol=1e-5)
    no_vgg = losses.Speech2FaceLoss((W, B))
    assert set(no_vgg.terms(VF, VS)) == {"f_dec", "norm"}  # dlib: no fc8, no distillation
    assert [f.__name__ for f in no_vgg.metrics()] == ["f_dec_term", "norm_term"]


def test_standardized_loss_terms():
    mean = RNG.normal(size=16).astype(np.float32)
    std = RNG.uniform(0.5, 2.0, size=16).astype(np.float32)
    loss = losses.StandardizedLoss(mean, std, cosine_weight=0.5)
    zf, zs = (VF - mean) / std, (VS - mean) / std
    terms = {k: np.asarray(v) for k, v in loss.terms(VF, VS).items()}
    np.testing.assert_allclose(terms["mse"], ((zf - zs) ** 2).mean(-1), rtol=1e-5)
    a = zf / np.linalg.norm(zf, axis=-1, keepdims=True)
    b = zs / np.linalg.norm(zs, axis=-1, keepdims=True)
    np.testing.assert_allclose(terms["cosine"], 0.5 * ((a - b) ** 2).sum(-1), rtol=1e-4)
    # the mean face is not a minimum any more: predicting it costs the spread of the targets
    at_mean = np.asarray(loss(VF, np.broadcast_to(mean, VF.shape)))
    assert at_mean > 0.5 and float(np.asarray(loss(VF, VF))) < 1e-6
    assert [f.__name__ for f in loss.metrics()] == ["mse_term", "cosine_term"]


def _numpy_energy(images, cell):
    """Brute force: grey, 4-neighbour Laplacian with zero padding, RMS per cell."""
    import cv2

    out = []
    for im in images:
        grey = im.mean(-1).astype(np.float32)
        kernel = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)
        lap = cv2.filter2D(grey, -1, kernel, borderType=cv2.BORDER_CONSTANT)
        s = grey.shape[0] // cell
        out.append(np.sqrt((lap**2).reshape(s, cell, s, cell).mean(axis=(1, 3)) + 1e-6))
    return np.stack(out)[..., None]


def test_texture_loss_terms_against_numpy():
    from speech2face.speech2face.training.losses import detail_loss, laplacian_energy, masked_l1

    rng = np.random.default_rng(0)
    true = rng.random((2, 16, 16, 3)).astype(np.float32)
    pred = rng.random((2, 16, 16, 3)).astype(np.float32)
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1
    w = (mask + 0.05)[None, :, :, None]
    l1 = (np.abs(true - pred) * w).sum((1, 2, 3)) / (w.sum() * 3)
    d = true - pred
    wx, wy = w[:, :, 1:], w[:, 1:]
    edges = (np.abs(np.diff(d, axis=2)) * wx).sum((1, 2, 3)) / (wx.sum() * 3) + (
        np.abs(np.diff(d, axis=1)) * wy
    ).sum((1, 2, 3)) / (wy.sum() * 3)
    energy = _numpy_energy(true, 4)
    np.testing.assert_allclose(np.asarray(laplacian_energy(true, 4)), energy, rtol=1e-4)
    cells = (mask + 0.05).reshape(4, 4, 4, 4).mean(axis=(1, 3))[None, :, :, None]
    detail = (np.abs(energy - _numpy_energy(pred, 4)) * cells).sum((1, 2, 3)) / cells.sum()
    np.testing.assert_allclose(np.asarray(detail_loss(mask, cell=4)(true, pred)), detail, rtol=1e-4)
    cells8 = (mask + 0.05).reshape(2, 8, 2, 8).mean(axis=(1, 3))[None, :, :, None]
    gap8 = np.abs(_numpy_energy(true, 8) - _numpy_energy(pred, 8))
    detail8 = (gap8 * cells8).sum((1, 2, 3)) / cells8.sum()  # the default cell, 8 px
    got = masked_l1(mask, edge_weight=2.0, detail_weight=3.0)(true, pred)
    np.testing.assert_allclose(np.asarray(got), l1 + 2 * edges + 3 * detail8, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(masked_l1(mask)(true, pred)), l1, rtol=1e-5)


def test_detail_loss_rewards_detail_wherever_it_lies():
    """A shifted copy of a fine texture keeps its detail (detail loss ~0, L1 large); a
    blurred copy stays in place but loses it (detail loss large)."""
    import cv2

    from speech2face.speech2face.training.losses import detail_loss, masked_l1

    rng = np.random.default_rng(1)
    sharp = rng.random((1, 64, 64, 3)).astype(np.float32)
    shifted = np.roll(sharp, 1, axis=2)
    blurred = cv2.GaussianBlur(sharp[0], (0, 0), 2.0)[None]
    mask = np.ones((64, 64), np.float32)
    detail, l1 = detail_loss(mask), masked_l1(mask)
    assert float(detail(sharp, shifted)[0]) < 0.1 * float(detail(sharp, blurred)[0])
    assert float(l1(sharp, shifted)[0]) > float(l1(sharp, blurred)[0])
