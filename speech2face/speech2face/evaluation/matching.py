"""Voice-to-face matching: 1:2 and N-way forced choice (Nagrani et al., CVPR 2018; Wen et al.,
NeurIPS 2019).

SVHF (Nagrani et al., "Seeing Voices and Hearing Faces") and Wen et al. ("Face
Reconstruction from Voice using Generative Adversarial Networks") report matching as a
forced choice: a voice and two faces, the speaker's and another test identity's; the answer
is the face nearer to the voice. Here the voice is the feature predicted from it and each
face is its true face feature; nearer = larger cosine similarity. For a probe segment i and a
segment j of another identity, the pair is won when cos(pred[i], true[i]) >
cos(pred[i], true[j]); a tie counts half. Chance is 0.5. The gender-matched figure keeps the
pairs whose two faces have the same gender (SVHF's harder setting). N-way matching puts the
speaker's face among N - 1 faces of other identities (chance 1 / N).

Nothing quadratic in the number of segments is kept: similarities are computed for a block
of probes against all segments in float32, counted, and only per-probe counts are kept.
"""

from __future__ import annotations

import numpy as np

N_WAYS = range(2, 11)
TIE_TOL = 1e-6  # similarities this close count as ties (float32 cosines are good to ~1e-7)
_UNKNOWN = 2  # gender codes: 0 = "F", 1 = "M", 2 = unknown


def _unit32(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def _gender_codes(genders, m: int) -> np.ndarray:
    if genders is None:
        return np.full(m, _UNKNOWN, np.int64)
    g = np.asarray(genders, object)
    if g.shape != (m,):
        raise ValueError(f"genders must be ({m},), got {g.shape}")
    text = np.char.upper(np.char.strip(g.astype(str)))
    return np.where(text == "F", 0, np.where(text == "M", 1, _UNKNOWN))


def _n_way(wins: np.ndarray, pairs: np.ndarray, n: int) -> float | None:
    """Mean over probes of prod_{t<n-1} max(k - t, 0) / (pairs - t): the chance that all n - 1
    distractors drawn without replacement lie below the probe's own face."""
    ok = pairs >= n - 1
    if not ok.any():
        return None
    p = np.ones(int(ok.sum()))
    k, m = wins[ok], pairs[ok].astype(np.float64)
    for t in range(n - 1):
        p *= np.clip(k - t, 0, None) / (m - t)
    return float(p.mean())


def _inputs(pred, true, identities, genders, n_ways, block):
    """Checked inputs: unit float32 features, identity codes, gender codes, N-ways, block."""
    if np.ndim(pred) != 2 or np.shape(pred) != np.shape(true):
        raise ValueError(
            f"pred and true must be (M, D) arrays of one shape, got {np.shape(pred)} and "
            f"{np.shape(true)}"
        )
    p32, t32 = _unit32(pred), _unit32(true)
    m = len(p32)
    if m == 0:
        raise ValueError("no segments: pred and true are empty")
    ids = np.asarray(identities)
    if ids.shape != (m,):
        raise ValueError(f"identities must be ({m},), got {ids.shape}")
    if int(block) < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    n_ways = tuple(int(n) for n in n_ways)
    if n_ways and min(n_ways) < 2:
        raise ValueError(f"N-way needs N >= 2, got {n_ways}")
    names, inv = np.unique(ids, return_inverse=True)
    if len(names) < 2:
        raise ValueError("matching needs at least two identities")
    gcode = _gender_codes(genders, m)
    return p32, t32, ids, inv, len(names), gcode, n_ways, int(block)


def _column_groups(t32, gcode, inv, n_names):
    """Columns (true faces) grouped by gender, each group sorted by identity: a probe's
    own-identity columns are one contiguous run per group, and a block of probes sorted
    by identity meets them in one small window. Returns [(gender, faces, identity codes,
    run starts, run ends)]."""
    groups = []
    for g in np.unique(gcode):
        cols = np.flatnonzero(gcode == g)
        cols = cols[np.argsort(inv[cols], kind="stable")]
        gid = inv[cols]
        groups.append(
            (
                int(g),
                np.ascontiguousarray(t32[cols]),
                gid,
                np.searchsorted(gid, np.arange(n_names)),
                np.searchsorted(gid, np.arange(n_names), side="right"),
            )
        )
    return groups


def _count_wins(p32, t32, inv, groups, block, tie_tol):
    """(M, groups) twice the wins (below + below-or-tie) and own-identity segment counts,
    computed in blocks of probes with reused buffers."""
    m = len(p32)
    own_all = np.einsum("ij,ij->i", p32, t32)
    rows_sorted = np.argsort(inv, kind="stable")
    wins2 = np.zeros((m, len(groups)), np.int64)  # twice the wins: below + below-or-tie
    same = np.zeros((m, len(groups)), np.int64)  # own-identity segments per group
    widest = max(len(gr[1]) for gr in groups)
    sim_buf = np.empty((block, widest), np.float32)  # reused: no page faults per block
    cmp_buf = np.empty((block, widest), bool)
    for b0 in range(0, m, block):
        rows = rows_sorted[b0 : b0 + block]
        r_id = inv[rows]
        own = own_all[rows][:, None]
        lo, hi = own - np.float32(tie_tol), own + np.float32(tie_tol)
        pb = p32[rows]
        for gi, (_, tg, gid, start, end) in enumerate(groups):
            sim = np.matmul(pb, tg.T, out=sim_buf[: len(rows), : len(tg)])
            c = cmp_buf[: len(rows), : len(tg)]
            below = np.less(sim, lo, out=c).sum(1, dtype=np.int64)
            upto = np.less_equal(sim, hi, out=c).sum(1, dtype=np.int64)
            w0, w1 = start[r_id[0]], end[r_id[-1]]
            if w1 > w0:  # take the probes' own identity back out
                win = sim[:, w0:w1]
                mine = gid[w0:w1][None, :] == r_id[:, None]
                below -= ((win < lo) & mine).sum(1)
                upto -= ((win <= hi) & mine).sum(1)
            wins2[rows, gi] = below + upto
            same[rows, gi] = end[r_id] - start[r_id]

    return wins2, same


def _gender_matched(wins2, same, groups, gcode) -> tuple[np.ndarray, np.ndarray]:
    """(M,) wins and (M,) pairs of each probe against the other identities' segments of its
    own gender (the column group of that gender; zeros for probes of unknown gender)."""
    m = len(gcode)
    gm_wins, gm_pairs = np.zeros(m), np.zeros(m, np.int64)
    for gi, (g, tg, *_rest) in enumerate(groups):
        if g == _UNKNOWN:
            continue
        mine = gcode == g
        gm_wins[mine] = wins2[mine, gi] / 2.0
        gm_pairs[mine] = len(tg) - same[mine, gi]
    return gm_wins, gm_pairs


def voice_face_matching(
    pred: np.ndarray,
    true: np.ndarray,
    identities: np.ndarray,
    genders: np.ndarray | None = None,
    n_ways=N_WAYS,
    block: int = 512,
    tie_tol: float = TIE_TOL,
) -> dict:
    """1:2 matching accuracy over all (probe, other-identity segment) pairs, and N-way.

    For probe i the pairs are (i, j) for every segment j whose identity differs from i's; the
    pair is won when s_ii > s_ij, with s_ij = cos(pred[i], true[j]); |s_ii - s_ij| <= tie_tol
    is a tie and counts half (cosines are computed in float32). Per probe: k_i = wins
    (below + half the ties) out of M_i pairs.

    "accuracy" weights every pair equally: sum_i k_i / sum_i M_i, which is not the mean of
    the per-probe fractions k_i / M_i when identities have different numbers of segments.
    "gender_matched_accuracy" keeps the pairs with genders[j] == genders[i] in {"M", "F"}
    (case-insensitive); segments of unknown gender (anything else) are left out of it.
    N-way (the speaker's face and N - 1 faces drawn without replacement from the other
    identities' segments) is the exact expectation per probe,
    P_i(N) = prod_{t=0}^{N-2} max(k_i - t, 0) / (M_i - t), averaged over the probes with
    M_i >= N - 1; exact without ties (ties enter as half a lower face). So "n_way"["2"] is the
    probe-averaged 1:2 figure.

    Args:
        pred: (M, D) float features predicted from the M voice segments.
        true: (M, D) float true face features of the same segments.
        identities: (M,) identity of each segment; at least two distinct.
        genders: (M,) "M"/"F" per segment (other values: unknown), or None.
        n_ways: the N of N-way matching, each >= 2.
        block: probes per similarity block (memory ~ 5 x block x M bytes). The counts do not
            depend on it, up to float32 rounding of a similarity lying right at
            ``tie_tol`` from the probe's own (BLAS may round a product differently in
            blocks of other shapes).
        tie_tol: similarities closer than this count as ties.
    Returns:
        {"probes": M, "pairs": sum_i M_i, "accuracy", "chance": 0.5,
        "gender_matched_pairs", "gender_matched_accuracy" (None without genders or without
        such pairs), "n_way": {str(N): accuracy or None when no probe has N - 1 distractors},
        "n_way_chance": {str(N): 1 / N}, "per_probe": (M,) float k_i / M_i,
        "per_probe_gender_matched": (M,) float (nan where the probe has no gender-matched
        pair), "probe_identity": (M,) identities}. The last three are numpy arrays, in input
        order (for bootstrap intervals over identities): drop them before writing JSON.
    Raises:
        ValueError: pred/true not (M, D) of one shape, M = 0, identities or genders not (M,),
            fewer than two identities, block < 1 or an N < 2.
    """
    p32, t32, ids, inv, n_names, gcode, n_ways, block = _inputs(
        pred, true, identities, genders, n_ways, block
    )
    m = len(p32)
    groups = _column_groups(t32, gcode, inv, n_names)
    wins2, same = _count_wins(p32, t32, inv, groups, block, tie_tol)

    pairs = m - same.sum(1)  # M_i
    wins = wins2.sum(1) / 2.0  # k_i
    per_probe = wins / pairs
    per_probe[pairs == 0] = np.nan  # cannot happen with two identities; kept for safety

    gm_wins, gm_pairs = _gender_matched(wins2, same, groups, gcode)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_gm = np.where(gm_pairs > 0, gm_wins / np.maximum(gm_pairs, 1), np.nan)
    gm_total = int(gm_pairs.sum())
    return {
        "probes": m,
        "pairs": int(pairs.sum()),
        "accuracy": float(wins.sum() / pairs.sum()),
        "chance": 0.5,
        "gender_matched_pairs": gm_total,
        "gender_matched_accuracy": float(gm_wins.sum() / gm_total) if gm_total else None,
        "n_way": {str(n): _n_way(wins, pairs, n) for n in n_ways},
        "n_way_chance": {str(n): 1.0 / n for n in n_ways},
        "per_probe": per_probe,
        "per_probe_gender_matched": per_gm,
        "probe_identity": ids,
    }
