"""Identity retrieval from voice as SF2F evaluates it (Bai et al., ACM MM 2022).

"Speech Fusion to Face" (SF2F) ranks, for every voice segment (probe), a gallery of
identities: one entry per identity, the mean of that identity's real face embeddings (here
the mean of the true face features of its segments). Similarity is cosine; recall@K
(K = 1, 2, 5, 10, 20, 50) is the share of probes whose identity is among the K most similar
entries. SF2F does not rank all test identities at once: identities sorted by name are cut
into consecutive blocks of 100 (0-99, 100-199, ...), each block is its own gallery, a last
block smaller than 100 is left out, and recall is averaged over the galleries. Chance is
K / gallery size. The facts follow SF2F's evaluation code; the code here is written anew.
"""

from __future__ import annotations

import numpy as np

KS = (1, 2, 5, 10, 20, 50)
GALLERY_SIZE = 100  # SF2F's gallery


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def _check(pred, true, identities, gallery_size, ks):
    pred = np.asarray(pred, np.float64)
    true = np.asarray(true, np.float64)
    ids = np.asarray(identities)
    if pred.ndim != 2 or true.ndim != 2 or pred.shape != true.shape:
        raise ValueError(
            f"pred and true must be (M, D) arrays of one shape, got {pred.shape} and {true.shape}"
        )
    if len(pred) == 0:
        raise ValueError("no segments: pred and true are empty")
    if ids.shape != (len(pred),):
        raise ValueError(f"identities must be ({len(pred)},), got {ids.shape}")
    if int(gallery_size) < 1:
        raise ValueError(f"gallery_size must be at least 1, got {gallery_size}")
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    return pred, true, ids, int(gallery_size), ks


def _galleries(n_ids: int, size: int) -> tuple[int, int, str | None]:
    """(gallery size used, galleries, note) for ``n_ids`` identities in galleries of
    ``size``: one gallery of all when there are fewer, else the full galleries only."""
    if n_ids < size:
        return n_ids, 1, f"one gallery of all {n_ids} identities (fewer than {size})"
    galleries = n_ids // size
    dropped = n_ids - galleries * size
    note = None
    if dropped:
        note = (
            f"{dropped} identities after the last full gallery of {size} dropped "
            f"({galleries} galleries)"
        )
    return size, galleries, note


def disjoint_gallery_recall(
    pred: np.ndarray,
    true: np.ndarray,
    identities: np.ndarray,
    gallery_size: int = GALLERY_SIZE,
    ks=KS,
) -> dict:
    """Recall@K within disjoint galleries of ``gallery_size`` identities (the SF2F protocol).

    Each identity's gallery entry is the mean of ``true`` over its segments; every segment is
    a probe, ranked by cosine similarity of ``pred`` to the entries of its own gallery. The
    rank of the probe's identity counts the entries strictly more similar (ties in the probe's
    favour, as :func:`speech2face.speech2face.evaluation.retrieval.recall_at_k`). Identities are
    sorted
    (``np.unique`` order: by name for strings, by value for numbers) and cut into consecutive
    blocks; a last block smaller than ``gallery_size`` is dropped with its probes. With fewer
    identities than ``gallery_size`` there is one gallery of all of them.

    Args:
        pred: (M, D) float features predicted from the M voice segments.
        true: (M, D) float true face features of the same segments.
        identities: (M,) identity (name or number) of each segment.
        gallery_size: identities per gallery (SF2F: 100).
        ks: the K of recall@K, positive integers.
    Returns:
        {"gallery_size": the size used (the number of identities when fewer than asked),
        "galleries": count, "identities_used", "identities_dropped", "probes": probes ranked,
        "recall": {str(K): recall averaged over the galleries}, "chance": {str(K): min(1, K /
        size)},
        "note": a sentence (one gallery of all identities, or how many were dropped) or None,
        "per_probe": {str(K): (P,) bool array, True where the probe's identity is in its top K},
        "probe_identity": (P,) identity of each of those probes}. The P probes are the
        segments of the used identities, in input order. "per_probe" and "probe_identity" are
        numpy arrays (for bootstrap intervals, :mod:`speech2face.evaluation.intervals`): drop
        them before writing JSON. Their mean pools probes over galleries, so it equals
        "recall" only when every gallery has the same number of probes.
    Raises:
        ValueError: pred/true not (M, D) of one shape, M = 0, identities not (M,),
            gallery_size < 1 or a K < 1.
    """
    pred, true, ids, size, ks = _check(pred, true, identities, gallery_size, ks)
    names, inv = np.unique(ids, return_inverse=True)
    n_ids = len(names)
    order = np.argsort(inv, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0])
    means = np.add.reduceat(true[order], starts, axis=0) / np.diff(np.r_[starts, len(inv)])[:, None]
    gallery, probes = _unit(means), _unit(pred)

    size, galleries, note = _galleries(n_ids, size)
    used = galleries * size
    rank = np.full(len(inv), -1, np.int64)  # -1: probe of a dropped identity
    recall = {str(k): 0.0 for k in ks}
    for g in range(galleries):
        rows = np.flatnonzero((inv >= g * size) & (inv < (g + 1) * size))
        sim = probes[rows] @ gallery[g * size : (g + 1) * size].T
        own = sim[np.arange(len(rows)), inv[rows] - g * size]
        rank[rows] = (sim > own[:, None]).sum(1)
        for k in ks:
            recall[str(k)] += float(np.mean(rank[rows] < k)) / galleries
    kept = rank >= 0
    return {
        "gallery_size": size,
        "galleries": galleries,
        "identities_used": used,
        "identities_dropped": n_ids - used,
        "probes": int(kept.sum()),
        "recall": recall,
        "chance": {str(k): min(1.0, k / size) for k in ks},
        "note": note,
        "per_probe": {str(k): rank[kept] < k for k in ks},
        "probe_identity": ids[kept],
    }
