"""Printed summaries of Wav2Pix's figures: one report (:func:`summary_lines`) and several
runs of one recipe, e.g. seeds (:func:`over_runs`)."""

from __future__ import annotations

import numpy as np


def summary_lines(metrics: dict) -> list[str]:
    """A few lines: each figure beside chance and the real-face row, then Speech2Face's
    figures on the same protocol when the metrics hold them."""
    from speech2face.wav2pix import beside as speech2face_beside

    ia, ldr, fid = (
        metrics["identity_accuracy"],
        metrics["landmark_detection_ratio"],
        metrics["fid_dlib"],
    )

    def acc(entry):
        ci = entry.get("interval")
        band = f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""
        return f"{entry['accuracy']:.3f}{band} (balanced {entry['balanced']:.3f}, n={entry['n']})"

    def band(speech):
        ci = (metrics.get("landmark_detection_interval") or {}).get(f"generated_{speech}_speech")
        return f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""

    lines = [
        f"wav2pix on {metrics['split']} ({metrics['protocol'] or 'given split'}): "
        f"{metrics['identities']} identities, {metrics['image_size']} px",
        f"  identity accuracy, generated from seen speech:   {acc(ia['generated_seen_speech'])}",
        f"  identity accuracy, generated from unseen speech: {acc(ia['generated_unseen_speech'])}",
        f"  identity accuracy, real held-out faces:          {acc(ia['real_faces_unseen'])}",
        f"  chance: {ia['chance']:.3f}",
        f"  landmark-detection ratio: generated seen {ldr['generated_seen_speech']:.3f}"
        f"{band('seen')}, unseen {ldr['generated_unseen_speech']:.3f}{band('unseen')}; "
        f"real {ldr['real_faces_unseen']:.3f}",
        f"  FID (dlib descriptors): generated vs real held-out "
        f"{fid['generated_unseen_vs_real_unseen']:.3f}; real train vs real held-out "
        f"{fid['real_seen_vs_real_unseen']:.3f}",
    ]
    inc = metrics.get("fid_inception")
    lines.append(
        f"  FID (Inception-v3): {inc['generated_unseen_vs_real_unseen']:.1f}; real vs real "
        f"{inc['real_seen_vs_real_unseen']:.1f}"
        if inc
        else "  FID (Inception-v3): not computed (no --inception-weights)"
    )
    return lines + speech2face_beside.summary_lines(metrics)


# the figures summarised over runs (seeds): (name, path in the metrics)
RUN_FIGURES = (
    ("identity accuracy, seen speech", ("identity_accuracy", "generated_seen_speech", "accuracy")),
    (
        "identity accuracy, unseen speech",
        ("identity_accuracy", "generated_unseen_speech", "accuracy"),
    ),
    (
        "  balanced, unseen speech",
        ("identity_accuracy", "generated_unseen_speech", "balanced"),
    ),
    ("landmark-detection ratio, seen", ("landmark_detection_ratio", "generated_seen_speech")),
    ("landmark-detection ratio, unseen", ("landmark_detection_ratio", "generated_unseen_speech")),
    ("FID (dlib), generated vs real", ("fid_dlib", "generated_unseen_vs_real_unseen")),
)


def over_runs(runs: list[dict]) -> dict:
    """Each headline figure over several runs (e.g. seeds) of one recipe: a GAN's figures
    move with the seed, and one run's interval does not show it.

    Args:
        runs: the metrics of :func:`speech2face.wav2pix.evaluate.evaluate_wav2pix`, one per
            run (at least one).
    Returns:
        {"runs": count, "figures": {name: {"values": per run, "mean", "std" (sample std,
        ddof=1; 0.0 for one run), "min", "max"}}, "chance"}.
    """
    figures = {}
    for name, path in RUN_FIGURES:
        values = []
        for m in runs:
            v = m
            for key in path:
                v = v[key]
            values.append(float(v))
        a = np.array(values)
        figures[name] = {
            "values": values,
            "mean": float(a.mean()),
            "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()),
            "max": float(a.max()),
        }
    return {"runs": len(runs), "figures": figures, "chance": runs[0]["identity_accuracy"]["chance"]}


def over_runs_lines(summary: dict) -> list[str]:
    """Printed lines of :func:`over_runs`: mean +- std (min-max) per figure."""
    lines = [f"wav2pix over {summary['runs']} runs (mean +- std, min-max):"]
    for name, f in summary["figures"].items():
        lines.append(
            f"  {name:34s} {f['mean']:.3f} +- {f['std']:.3f}  ({f['min']:.3f}-{f['max']:.3f})"
        )
    lines.append(f"  chance (identity accuracy): {summary['chance']:.3f}")
    return lines
