"""A few lines that sum up an evaluation's metrics (printed by evaluate and demo)."""

from __future__ import annotations


def _get(d: dict, k):
    return d[k] if k in d else d[str(k)]


def summary_lines(metrics: dict) -> list[str]:
    """Recall@1/5 beside chance for both galleries, similarity, gender vs pitch baseline."""
    lines = [
        f"{metrics['split']} split: {metrics['segments']} voice segments, "
        f"{metrics['identities']} identities"
    ]
    for gallery, r in metrics["retrieval"].items():
        rec = r["recall"]["cosine"]
        lines.append(
            f"  recall@1 {gallery:8s} gallery (N={r['gallery_size']:3d}): "
            f"{_get(rec, 1):.3f} (chance {_get(r['chance'], 1):.3f}); "
            f"recall@5 {_get(rec, 5):.3f} (chance {_get(r['chance'], 5):.3f})"
        )
    sim = metrics["similarity"]["angle_deg"]
    lines.append(f"  angle predicted vs true feature: {sim['mean']:.1f} ± {sim['std']:.1f} deg")
    g = metrics.get("gender")
    if g:
        lines.append(
            f"  gender agreement, face decoded from voice: {g['decoded_face_from_voice']:.3f}; "
            f"voice-pitch baseline {g['voice_pitch_baseline']:.3f}; majority "
            f"{g['majority_baseline']:.3f} (n={g['n']})"
        )
    lines.append(
        f"  landmark-detection ratio (faces from voice): "
        f"{metrics['landmark_detection_ratio']['from_voice']:.3f}"
    )
    return lines
