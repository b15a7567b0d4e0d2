"""Speech2Face loss (Oh et al., CVPR 2019, §3.3), backend-agnostic ``keras.ops``.

    L = ||f_dec(v_f) - f_dec(v_s)||_1 + λ1 ||v_f/||v_f|| - v_s/||v_s||||_2^2
        + λ2 L_distill(f_VGG(v_f), f_VGG(v_s))

v_f: true face feature, v_s: feature predicted from speech. f_dec: the first layer of the
frozen face decoder (Dense + ReLU). f_VGG: VGG-Face fc8 (logits over 2622 identities);
L_distill(a, b) = -Σ_i softmax(a/T)_i log softmax(b/T)_i. λ1 = 0.025, λ2 = 200, T = 2
(:mod:`speech2face.speech2face.training.config`).
With dlib features there is no fc8 layer, so the distillation term is off.
The frozen layers are held as constant arrays, so only the voice encoder trains.

Also the face decoder's texture losses (Cole et al. §3's L1 in the face mask, and this
project's edge and detail terms): :func:`masked_l1`, :func:`detail_loss`.
"""

from __future__ import annotations

import abc

import keras
import numpy as np
from keras import ops

from speech2face.speech2face.training.config import LAMBDA1, LAMBDA2, TEMPERATURE

EPS = 1e-8


def _dense(x, kernel, bias, relu: bool):
    y = ops.matmul(x, kernel) + bias
    return ops.relu(y) if relu else y


def fdec_l1(v_f, v_s, kernel, bias):
    """||f_dec(v_f) - f_dec(v_s)||_1 per sample: (B, D) x2 -> (B,). f_dec = ReLU(xW + b)."""
    return ops.sum(ops.abs(_dense(v_f, kernel, bias, True) - _dense(v_s, kernel, bias, True)), -1)


def normalized_l2(v_f, v_s):
    """||v_f/||v_f|| - v_s/||v_s||||^2 per sample: (B, D) x2 -> (B,)."""
    a = v_f / (ops.norm(v_f, axis=-1, keepdims=True) + EPS)
    b = v_s / (ops.norm(v_s, axis=-1, keepdims=True) + EPS)
    return ops.sum(ops.square(a - b), -1)


def distillation(logits_f, logits_s, temperature: float = TEMPERATURE):
    """-Σ softmax(a/T) log softmax(b/T) per sample (knowledge distillation, Hinton et al.)."""
    p = ops.softmax(logits_f / temperature, axis=-1)
    return -ops.sum(p * ops.log_softmax(logits_s / temperature, axis=-1), -1)


class TermLoss(keras.losses.Loss, abc.ABC):
    """A loss that is a sum of named per-sample terms: ``call`` sums :meth:`terms`
    (a subclass defines ``term_names`` and :meth:`terms`)."""

    term_names: tuple = ()

    @abc.abstractmethod
    def terms(self, y_true, y_pred) -> dict:
        """Each weighted term per sample: {name: (B,)}."""

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        return sum(self.terms(y_true, y_pred).values())

    def metrics(self) -> list:
        """Keras metric functions, one per term, for the progress bar and logs."""
        fns = []
        for key in self.term_names:

            def fn(y_true, y_pred, key=key):
                return self.terms(ops.cast(y_true, "float32"), ops.cast(y_pred, "float32"))[key]

            fn.__name__ = f"{key}_term"
            fns.append(fn)
        return fns


class Speech2FaceLoss(TermLoss):
    """The full Speech2Face loss as a Keras loss: ``loss(y_true=v_f, y_pred=v_s)``.

    Args:
        f_dec: (kernel (D, U), bias (U,)) of the decoder's first layer, numpy.
        fc8: optional (kernel (D, 2622), bias) of VGG-Face fc8; None turns the
            distillation term off (dlib features).
        lambda1, lambda2, temperature: the paper's weights (0.025, 200, 2).
    """

    def __init__(
        self,
        f_dec,
        fc8=None,
        lambda1: float = LAMBDA1,
        lambda2: float = LAMBDA2,
        temperature: float = TEMPERATURE,
        name: str = "speech2face_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.f_dec = tuple(np.asarray(w, np.float32) for w in f_dec)
        self.fc8 = None if fc8 is None else tuple(np.asarray(w, np.float32) for w in fc8)
        self.lambda1, self.lambda2, self.temperature = lambda1, lambda2, temperature
        self.term_names = ("f_dec", "norm") + (("distill",) if self.fc8 is not None else ())

    def terms(self, v_f, v_s) -> dict:
        """Each weighted term per sample: {"f_dec", "norm", "distill"} -> (B,)."""
        out = {
            "f_dec": fdec_l1(v_f, v_s, *self.f_dec),
            "norm": self.lambda1 * normalized_l2(v_f, v_s),
        }
        if self.fc8 is not None and self.lambda2:
            out["distill"] = self.lambda2 * distillation(
                _dense(v_f, *self.fc8, False), _dense(v_s, *self.fc8, False), self.temperature
            )
        return out


class StandardizedLoss(TermLoss):
    """The ``dlib`` recipe's loss: distances in standard units of the training targets.

        z = (v - mean) / std       (per dimension, train-split statistics)
        L = mean_d (z_f - z_s)^2 + w_cos ||z_f/||z_f|| - z_s/||z_s||||^2

    Why: 128-D dlib descriptors of different people lie within about 23 degrees of their
    common mean, and the paper's terms on raw features (an L1 after the decoder's ReLU
    layer, whose units go silent for most predictions, and a normalised distance between
    nearly parallel vectors) are smallest near that mean: trained with them the voice
    encoder predicted one face for every voice (recall@1 at chance on its own training
    segments). In standard units every dimension counts as much as the spread between
    people, the squared error has no silent units, and the second term is the paper's
    normalised distance taken about the mean instead of about the origin.

    Args:
        mean, std: (dim,) train-split statistics of the targets (std > 0).
        cosine_weight: w_cos.
    """

    term_names = ("mse", "cosine")

    def __init__(self, mean, std, cosine_weight: float = 1.0, name="standardized_loss", **kw):
        super().__init__(name=name, **kw)
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.cosine_weight = cosine_weight

    def terms(self, v_f, v_s) -> dict:
        """{"mse", "cosine"} -> (B,) each."""
        z_f = (v_f - self.mean) / self.std
        z_s = (v_s - self.mean) / self.std
        return {
            "mse": ops.mean(ops.square(z_f - z_s), axis=-1),
            "cosine": self.cosine_weight * normalized_l2(z_f, z_s),
        }


# the face decoder's texture losses ------------------------------------------------------

OUTSIDE_WEIGHT = 0.05  # texture-loss weight outside the face mask (the plain background)


def masked_l1(
    mask: np.ndarray,
    outside: float = OUTSIDE_WEIGHT,
    edge_weight: float = 0.0,
    detail_weight: float = 0.0,
):
    """Texture loss: L1 weighted by the face mask (``outside`` added everywhere), per face
    divided by the weights' sum, so its scale is that of a plain L1; plus ``edge_weight``
    x the same weighted L1 of the horizontal and vertical image differences (a gradient
    loss: an L1 alone settles on blur where it cannot place an edge); plus ``detail_weight``
    x :func:`detail_loss` (the local amount of fine detail matched, wherever it lies).

    Args:
        mask: (S, S) float in [0, 1]
        (:func:`speech2face.speech2face.models.face_decoder.face_mask`).
    Returns:
        A Keras loss function (y_true, y_pred) of (B, S, S, 3) -> (B,).
    """
    from keras import ops

    weights = (np.asarray(mask, np.float32) + outside)[None, :, :, None]
    total = float(weights.sum() * 3)
    wx, wy = weights[:, :, 1:], weights[:, 1:]
    total_x, total_y = float(wx.sum() * 3), float(wy.sum() * 3)
    detail = detail_loss(mask, outside) if detail_weight else None

    def texture_l1(y_true, y_pred):
        error = ops.sum(ops.abs(y_true - y_pred) * weights, axis=(1, 2, 3)) / total
        if edge_weight:
            d = y_true - y_pred
            dx = ops.abs(d[:, :, 1:] - d[:, :, :-1]) * wx
            dy = ops.abs(d[:, 1:] - d[:, :-1]) * wy
            error += edge_weight * (
                ops.sum(dx, axis=(1, 2, 3)) / total_x + ops.sum(dy, axis=(1, 2, 3)) / total_y
            )
        if detail is not None:
            error += detail_weight * detail(y_true, y_pred)
        return error

    return texture_l1


DETAIL_CELL = 8  # pixels: side of the cells whose Laplacian energy the detail loss matches
_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)


def laplacian_energy(images, cell: int = DETAIL_CELL):
    """Local detail: the RMS of the grey-level Laplacian over cells of ``cell`` pixels.

    Args:
        images: (B, S, S, 3) float tensor in [0, 1]; S a multiple of ``cell``.
    Returns:
        (B, S / cell, S / cell, 1) float tensor, >= 0 (0: flat or linear shading).
    """
    from keras import ops

    grey = ops.mean(images, axis=-1, keepdims=True)
    lap = ops.conv(grey, _LAPLACIAN[:, :, None, None], padding="same")
    return ops.sqrt(ops.average_pool(lap * lap, cell, cell) + 1e-6)


def detail_loss(mask: np.ndarray, outside: float = OUTSIDE_WEIGHT, cell: int = DETAIL_CELL):
    """The L1 between the local Laplacian energies (:func:`laplacian_energy`) of the real
    and rendered textures, weighted by the face mask averaged over each cell.

    It rewards as much fine detail (pores, hair strands, eyelids) as the real face has in
    each cell, not its exact place: a pixel loss can only average detail it cannot place,
    which is why an L1-trained decoder blurs (the texture loss of Cole et al. §3 is a plain
    L1; this term is ours, measured by the sharpness ratio of
    :mod:`speech2face.speech2face.evaluation.decoder_quality`).

    Args:
        mask: (S, S) float in [0, 1]; S a multiple of ``cell``.
    Returns:
        A function (y_true, y_pred) of (B, S, S, 3) -> (B,).
    """
    from keras import ops

    size = mask.shape[0]
    cells = (
        (np.asarray(mask, np.float32) + outside)
        .reshape(size // cell, cell, size // cell, cell)
        .mean(axis=(1, 3))[None, :, :, None]
    )
    total = float(cells.sum())

    def loss(y_true, y_pred):
        gap = ops.abs(laplacian_energy(y_true, cell) - laplacian_energy(y_pred, cell))
        return ops.sum(gap * cells, axis=(1, 2, 3)) / total

    return loss
