"""Face retrieval from voice (Speech2Face §4.1) and feature similarity.

For every voice segment (probe), the gallery of face features is ranked by distance to
the feature predicted from the voice; recall@K is the share of probes whose true face is
among the K nearest. Chance for a gallery of N is K/N. Two galleries: one face per
segment, and one mean feature per identity (the SF2F protocol).
"""

from __future__ import annotations

import numpy as np

METRICS = ("cosine", "l1", "l2")
KS = (1, 2, 5, 10)


def distances(probes: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    """(P, D), (G, D) -> (P, G) distances: cosine distance (1 - cos), L1 or L2.

    Raises:
        ValueError: unknown metric.
    """
    probes = np.asarray(probes, np.float64)
    gallery = np.asarray(gallery, np.float64)
    if metric == "cosine":
        a = probes / (np.linalg.norm(probes, axis=1, keepdims=True) + 1e-12)
        b = gallery / (np.linalg.norm(gallery, axis=1, keepdims=True) + 1e-12)
        return 1.0 - a @ b.T
    if metric == "l1":
        return np.abs(probes[:, None] - gallery[None]).sum(-1)
    if metric == "l2":
        return np.linalg.norm(probes[:, None] - gallery[None], axis=-1)
    raise ValueError(f"unknown metric {metric!r}: use one of {METRICS}")


def recall_at_k(dist: np.ndarray, truth: np.ndarray, ks=KS) -> dict[str, float]:
    """Recall@K from a (P, G) distance matrix and the (P,) index of each probe's true item,
    keyed by K as a string ("1", "5", ...: the keys metrics.json holds, so a metrics dict
    reads the same in memory and from disk)."""
    truth = np.asarray(truth)
    true_d = dist[np.arange(len(truth)), truth]
    rank = (dist < true_d[:, None]).sum(1)  # 0 = nearest; ties count in the probe's favour
    return {str(k): float(np.mean(rank < k)) for k in ks}


def retrieval(pred: np.ndarray, true: np.ndarray, identities: np.ndarray, ks=KS) -> dict:
    """Recall@K for both galleries and every metric, with gallery sizes and chance.

    Args:
        pred: (N, D) features predicted from the N voice segments.
        true: (N, D) face features of the same segments.
        identities: (N,) identity of each segment.
    Returns:
        {"segment": {...}, "identity": {...}}, each {"gallery_size", "chance": {str(K): K/N},
        "recall": {metric: {str(K): rate}}} (string keys, as in metrics.json).
    """
    ids = np.asarray(identities)
    names = sorted(set(ids))
    means = np.stack([true[ids == n].mean(0) for n in names])
    out = {}
    for name, gallery, truth in (
        ("segment", true, np.arange(len(true))),
        ("identity", means, np.array([names.index(i) for i in ids])),
    ):
        n = len(gallery)
        out[name] = {
            "gallery_size": n,
            "probes": len(pred),
            "chance": {str(k): min(1.0, k / n) for k in ks},
            "recall": {m: recall_at_k(distances(pred, gallery, m), truth, ks) for m in METRICS},
        }
    return out


def similarity(pred: np.ndarray, true: np.ndarray) -> dict:
    """Mean and std of the angle (degrees), L1 and L2 between predicted and true features."""
    pred = np.asarray(pred, np.float64)
    true = np.asarray(true, np.float64)
    cos = (pred * true).sum(1) / (
        np.linalg.norm(pred, axis=1) * np.linalg.norm(true, axis=1) + 1e-12
    )
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    l1 = np.abs(pred - true).sum(1)
    l2 = np.linalg.norm(pred - true, axis=1)
    return {
        name: {"mean": float(v.mean()), "std": float(v.std())}
        for name, v in (("angle_deg", angle), ("l1", l1), ("l2", l2))
    }


def spread(features: np.ndarray) -> dict:
    """How different the features are: angle of each to their centroid, in degrees.

    A voice encoder that predicts one face for every voice has a spread near 0; true dlib
    features of different people spread about 20-25 degrees.

    Args:
        features: (N, D) features, N >= 1.
    Returns:
        {"mean": mean angle (deg), "std": its standard deviation}.
    """
    features = np.asarray(features, np.float64)
    centroid = features.mean(0)
    cos = (
        features @ centroid / (np.linalg.norm(features, axis=1) * np.linalg.norm(centroid) + 1e-12)
    )
    angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    return {"mean": float(angle.mean()), "std": float(angle.std())}
