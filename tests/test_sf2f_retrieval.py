"""SF2F disjoint-gallery recall against a brute-force loop over galleries and probes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from speech2face.speech2face.evaluation.sf2f_retrieval import KS, disjoint_gallery_recall


def _data(n_ids: int, seed: int, dim: int = 6, noise: float = 1.0):
    """Segments of ``n_ids`` identities (1-4 each, shuffled, names not in sorted order)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 5, size=n_ids)
    names = np.array([f"id{(7 * i) % n_ids:03d}" for i in range(n_ids)])
    ids = np.repeat(names, counts)
    centres = rng.normal(size=(n_ids, dim))
    true = np.repeat(centres, counts, axis=0) + 0.3 * rng.normal(size=(len(ids), dim))
    pred = true + noise * rng.normal(size=true.shape)
    perm = rng.permutation(len(ids))
    return pred[perm], true[perm], ids[perm]


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def _oracle(pred, true, ids, size, ks):
    """Per gallery (sorted names, consecutive blocks, short last block dropped), per probe."""
    names = sorted(set(ids.tolist()))
    size = min(size, len(names))
    recall = {k: [] for k in ks}
    hits = {}
    for g in range(len(names) // size):
        block = names[g * size : (g + 1) * size]
        entries = {
            n: np.mean([true[i] for i in range(len(ids)) if ids[i] == n], axis=0) for n in block
        }
        gal_hits = {k: [] for k in ks}
        for i in range(len(ids)):
            if ids[i] not in entries:
                continue
            own = _cos(pred[i], entries[ids[i]])
            rank = sum(_cos(pred[i], e) > own for e in entries.values())
            for k in ks:
                gal_hits[k].append(rank < k)
                hits.setdefault(k, {})[i] = rank < k
        for k in ks:
            recall[k].append(np.mean(gal_hits[k]))
    return {k: np.mean(v) for k, v in recall.items()}, hits


def test_matches_brute_force_with_a_dropped_block():
    pred, true, ids = _data(23, seed=0)
    ks = (1, 2, 3, 5, 6)
    out = disjoint_gallery_recall(pred, true, ids, gallery_size=5, ks=ks)
    recall, hits = _oracle(pred, true, ids, 5, ks)
    assert out["gallery_size"] == 5 and out["galleries"] == 4
    assert out["identities_used"] == 20 and out["identities_dropped"] == 3
    assert "3 identities" in out["note"] and "dropped" in out["note"]
    for k in ks:
        assert out["recall"][str(k)] == pytest.approx(recall[k], abs=1e-12)
        kept = sorted(hits[k])  # input order of the probes of used identities
        np.testing.assert_array_equal(out["per_probe"][str(k)], [hits[k][i] for i in kept])
        np.testing.assert_array_equal(out["probe_identity"], ids[kept])
    assert out["probes"] == len(kept) < len(ids)
    assert 0 < out["recall"]["1"] < 1  # noisy predictions: neither perfect nor nothing
    assert out["recall"]["5"] == 1.0 and out["chance"] == {
        "1": 0.2,
        "2": 0.4,
        "3": 0.6,
        "5": 1.0,
        "6": 1.0,
    }
    # the dropped identities are the last in sorted order
    assert set(ids) - set(out["probe_identity"]) == {"id020", "id021", "id022"}


def test_full_blocks_have_no_note_and_recall_is_averaged_over_galleries():
    pred, true, ids = _data(10, seed=1)
    out = disjoint_gallery_recall(pred, true, ids, gallery_size=5, ks=(1, 2))
    recall, _ = _oracle(pred, true, ids, 5, (1, 2))
    assert out["note"] is None and out["identities_dropped"] == 0 and out["galleries"] == 2
    assert out["recall"]["1"] == pytest.approx(recall[1], abs=1e-12)
    # a one-gallery ranking of all 10 is a different (harder) task
    whole = disjoint_gallery_recall(pred, true, ids, gallery_size=10, ks=(1,))
    assert whole["recall"]["1"] == pytest.approx(_oracle(pred, true, ids, 10, (1,))[0][1])


def test_fewer_identities_than_a_gallery():
    pred, true, ids = _data(9, seed=2)
    out = disjoint_gallery_recall(pred, true, ids)
    assert out["note"] == "one gallery of all 9 identities (fewer than 100)"
    assert out["gallery_size"] == 9 and out["galleries"] == 1
    assert out["identities_used"] == 9 and out["identities_dropped"] == 0
    assert out["probes"] == len(ids) and set(out["recall"]) == {str(k) for k in KS}
    assert out["chance"]["1"] == pytest.approx(1 / 9) and out["chance"]["10"] == 1.0
    assert out["recall"]["1"] == pytest.approx(_oracle(pred, true, ids, 100, (1,))[0][1])


def test_perfect_predictions_and_sf2f_chance():
    pred, true, ids = _data(200, seed=3, dim=32, noise=0.0)
    out = disjoint_gallery_recall(pred, true, ids)
    assert out["galleries"] == 2 and out["recall"]["1"] == 1.0
    assert all(v.all() for v in out["per_probe"].values())
    assert out["chance"] == {"1": 0.01, "2": 0.02, "5": 0.05, "10": 0.1, "20": 0.2, "50": 0.5}


def test_bad_input():
    pred, true, ids = _data(5, seed=4)
    with pytest.raises(ValueError, match="one shape"):
        disjoint_gallery_recall(pred, true[:, :3], ids)
    with pytest.raises(ValueError, match="identities"):
        disjoint_gallery_recall(pred, true, ids[:-1])
    with pytest.raises(ValueError, match="empty"):
        disjoint_gallery_recall(np.zeros((0, 4)), np.zeros((0, 4)), np.array([]))
    with pytest.raises(ValueError, match="gallery_size"):
        disjoint_gallery_recall(pred, true, ids, gallery_size=0)


def test_ties_count_in_the_probes_favour():
    true = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # a and b have the same face
    pred = np.array([[1.0, 0.1], [1.0, 0.1], [1.0, 0.0]])
    out = disjoint_gallery_recall(pred, true, np.array(["a", "b", "c"]), ks=(1, 2))
    np.testing.assert_array_equal(out["per_probe"]["1"], [True, True, False])
    np.testing.assert_array_equal(out["per_probe"]["2"], [True, True, False])
    assert out["recall"]["1"] == pytest.approx(2 / 3)
