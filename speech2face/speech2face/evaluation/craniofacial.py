"""Craniofacial measures from 68 landmarks (after Speech2Face Table 2) and their correlation.

Thirteen distances and ratios; distances are divided by the outer inter-ocular distance
(landmarks 36-45) so they do not depend on image scale. Speech2Face correlates each
measure between faces decoded from the voice and faces decoded from the true face feature
(Pearson r with p-values); here both sets of landmarks come from the face decoder's
landmark branch.
"""

from __future__ import annotations

import numpy as np

# iBUG 300-W indices
OUTER_EYES = (36, 45)


def _d(p, a, b):
    return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)


MEASURES = {
    "upper_lip_height": lambda p, s: _d(p, 33, 51) / s,
    "lateral_upper_lip_height": lambda p, s: (_d(p, 31, 50) + _d(p, 35, 52)) / 2 / s,
    "jaw_width": lambda p, s: _d(p, 4, 12) / s,
    "nose_height": lambda p, s: _d(p, 27, 33) / s,
    "nose_width": lambda p, s: _d(p, 31, 35) / s,
    "labio_oral_region": lambda p, s: _d(p, 33, 57) / s,
    "mandibular_index": lambda p, s: _d(p, 66, 8) / _d(p, 4, 12),
    "intercanthal_index": lambda p, s: _d(p, 39, 42) / _d(p, 36, 45),
    "nasal_index": lambda p, s: _d(p, 31, 35) / _d(p, 27, 33),
    "vermilion_height_index": lambda p, s: _d(p, 51, 62) / (_d(p, 66, 57) + 1e-6),
    "mouth_face_width_index": lambda p, s: _d(p, 48, 54) / _d(p, 0, 16),
    "nose_area": lambda p, s: 0.5 * _d(p, 31, 35) * _d(p, 27, 33) / s**2,
    "lower_face_index": lambda p, s: _d(p, 33, 8) / _d(p, 0, 16),
}


def measures(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 68, 2) landmarks (any consistent units) -> {measure: (N,) values}."""
    p = np.asarray(landmarks, np.float64)
    scale = _d(p, *OUTER_EYES)
    return {name: fn(p, scale) for name, fn in MEASURES.items()}


def correlations(from_voice: np.ndarray, from_face: np.ndarray) -> dict[str, dict]:
    """Pearson r and p-value of every measure between two (N, 68, 2) landmark sets."""
    from scipy.stats import pearsonr

    a, b = measures(from_voice), measures(from_face)
    out = {}
    for name in MEASURES:
        if np.std(a[name]) < 1e-12 or np.std(b[name]) < 1e-12:
            out[name] = {"r": float("nan"), "p": float("nan")}
            continue
        r, p = pearsonr(a[name], b[name])
        out[name] = {"r": float(r), "p": float(p)}
    return out
