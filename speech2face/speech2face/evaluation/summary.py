"""A few lines that sum up an evaluation's metrics (printed by evaluate and demo)."""

from __future__ import annotations


def fit_line(fit: dict) -> str:
    """The training split's own recall@1 and spread, and a warning when it collapsed."""
    line = (
        f"fit on {fit['segments']} training segments: recall@1 {fit['recall1_segment']:.3f} "
        f"(chance {fit['chance_segment']:.3f}), identity recall@1 "
        f"{fit['recall1_identity']:.3f} (chance {fit['chance_identity']:.3f}), spread "
        f"{fit['spread_deg']:.1f} deg (true {fit['true_spread_deg']:.1f})"
    )
    if fit["collapsed"]:
        line += "  PREDICTIONS COLLAPSED: one face for every voice"
    return line


def protocol_lines(m: dict) -> list[str]:
    """Recall@1/5 beside chance for both galleries, similarity, spread, gender vs baselines."""
    lines = [
        f"{m.get('protocol', m['split'])} [{m['split']}]: {m['segments']} voice segments, "
        f"{m['identities']} identities"
    ]
    for gallery, r in m["retrieval"].items():
        rec = r["recall"]["cosine"]
        lines.append(
            f"  recall@1 {gallery:8s} gallery (N={r['gallery_size']:3d}): "
            f"{rec['1']:.3f} (chance {r['chance']['1']:.3f}); "
            f"recall@5 {rec['5']:.3f} (chance {r['chance']['5']:.3f})"
        )
    sim = m["similarity"]["angle_deg"]
    lines.append(f"  angle predicted vs true feature: {sim['mean']:.1f} ± {sim['std']:.1f} deg")
    if "spread" in m:
        lines.append(
            f"  spread of predicted features: {m['spread']['predicted_deg']['mean']:.1f} deg to "
            f"their centroid (true features: {m['spread']['true_deg']['mean']:.1f} deg)"
        )
    g = m.get("gender")
    if g and g.get("decoded_face_from_voice") is not None:
        b = g.get("balanced", {})
        counts = g.get("segments_by_gender", {})
        balance = " / ".join(f"{n} {k}" for k, n in counts.items())
        if b:
            lines.append(
                f"  gender (balanced accuracy; {balance} segments): face decoded from voice "
                f"{b['decoded_face_from_voice']:.3f}, predicted feature "
                f"{b['predicted_feature']:.3f}; voice-pitch baseline "
                f"{b['voice_pitch_baseline']:.3f}, chance 0.500 (majority rate "
                f"{g['majority_baseline']:.3f}); decoded from the true feature "
                f"{b['decoded_face_from_true_feature']:.3f}"
            )
        else:  # metrics written before balanced accuracy was reported
            lines.append(
                f"  gender of the face decoded from voice: {g['decoded_face_from_voice']:.3f}; "
                f"majority {g['majority_baseline']:.3f}, voice-pitch baseline "
                f"{g['voice_pitch_baseline']:.3f} (n={g['n']})"
            )
    lines.append(
        f"  landmark-detection ratio (faces from voice): "
        f"{m['landmark_detection_ratio']['from_voice']:.3f}"
    )
    return lines


def attribute_lines(m: dict) -> list[str]:
    """The face judges on decoded vs true faces (the paper's Face++ figures), beside chance
    and the majority rate."""
    a = m.get("attributes")
    if not a:
        return []
    g, r, age = a["gender"], a["race"], a["age"]
    return [
        f"  face judges, decoded from voice vs true face (n={a['n']}): gender "
        f"{g['agreement']:.3f} (chance {g['chance']:.3f}, majority {g['majority']:.3f}); "
        f"age MAE {age['mae_years']:.1f} y (always the mean age {age['mae_of_mean']:.1f} y), "
        f"age class {age['class_agreement']:.3f} (chance {age['chance']:.3f}, majority "
        f"{age['majority']:.3f}); ethnicity {r['agreement']:.3f} (chance {r['chance']:.3f}, "
        f"majority {r['majority']:.3f}; coarse, noisy UTKFace labels)"
    ]


def interval_text(i: dict | None) -> str:
    """ "0.133 [0.000, 0.333]" (value and 95 % interval), or "n/a"."""
    if not i:
        return "n/a"
    return f"{i['value']:.3f} [{i['low']:.3f}, {i['high']:.3f}]"


def literature_lines(m: dict) -> list[str]:
    """SF2F retrieval, voice-face matching and the intervals of a protocol's rates."""
    lit = m.get("literature")
    if not lit:
        return []
    iv, sf, mt = lit["intervals"], lit["sf2f"], lit.get("matching")
    first = next(iter(iv.values()), None)
    lines = [
        f"  95 % intervals: bootstrap over identities ({first['n_identities']} identities, "
        f"{first['n_segments']} segments, {lit['n_boot']} resamples); scorer "
        f"{lit.get('scorer', 'the face features')}"
        if first
        else "  no intervals"
    ]
    size = sf["gallery_size"]
    note = f"; {sf['note']}" if sf.get("note") else ""
    recall = ", ".join(
        f"R@{k} {interval_text(iv.get(f'sf2f_recall{k}'))} (chance {sf['chance'][k]:.3f})"
        for k in ("1", "5", "10")
        if f"sf2f_recall{k}" in iv
    )
    lines.append(f"  SF2F retrieval, galleries of {size} identities{note}: {recall}")
    lines.append(
        f"  identity recall@1 {interval_text(iv.get('identity_recall1'))}, segment recall@1 "
        f"{interval_text(iv.get('segment_recall1'))}"
    )
    if mt:
        ten = mt["n_way"].get("10")
        lines.append(
            f"  1:2 voice-face matching (mean share of pairs won per voice): "
            f"{interval_text(iv.get('matching'))}, gender-matched pairs "
            f"{interval_text(iv.get('matching_gender_matched'))} (chance 0.500; "
            f"{mt['pairs']:,} pairs); 10-way {'n/a' if ten is None else f'{ten:.3f}'} "
            "(chance 0.100)"
        )
    gender = [
        f"{route.removeprefix('gender_')} {interval_text(i)}"
        for route, i in iv.items()
        if route.startswith("gender_")
    ]
    if gender:
        lines.append("  gender, balanced: " + "; ".join(gender))
    return lines


def summary_lines(metrics: dict) -> list[str]:
    """The fit line, then each protocol's lines
    (:func:`speech2face.speech2face.evaluation.evaluate`)."""
    lines = [fit_line(metrics["fit"])] if metrics.get("fit") else []
    for m in metrics["protocols"].values():
        lines += protocol_lines(m) + attribute_lines(m) + literature_lines(m)
    return lines
