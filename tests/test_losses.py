"""Each Speech2Face loss term against a direct numpy computation."""

from __future__ import annotations

import numpy as np

from speech2face.training import losses

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
