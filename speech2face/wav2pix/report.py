"""Wav2Pix report: faces generated from unseen speech beside the real ones, and the tables.

``faces.png``: one row per held-out identity: its real face, the face generated from one
second of its held-out (unseen) speech, and one generated from its training (seen) speech.
``index.html``: every metric beside its chance and real-image rows.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np


def faces_figure(
    path: Path, sets: dict, gen: dict, rows: dict, names=None, block: int = 10
) -> Path:
    """Write the faces picture (see the module doc) to ``path``: for each identity (all held-out
    ones, or ``names``) its real face and faces generated from unseen and from training
    speech, in side-by-side blocks of ``block`` rows."""
    from PIL import Image

    from speech2face.wav2pix.pair_reader import resize_faces
    from speech2face.wav2pix.pictures import tile_faces

    size = gen["unseen"].shape[1]
    unseen, seen = sets["unseen"], sets["seen"]
    ids_unseen = unseen["identity"][unseen["pair_face"][rows["unseen"]]]
    ids_seen = seen["identity"][seen["pair_face"][rows["seen"]]]
    names = sorted(set(ids_unseen)) if names is None else [n for n in names if n in ids_unseen]
    cols = {"real face": [], "from unseen": [], "from training": []}
    for name in names:
        i = int(np.flatnonzero(ids_unseen == name)[0])
        face_row = unseen["pair_face"][rows["unseen"][i]]
        cols["real face"].append(resize_faces(unseen["face"][[face_row]], size)[0])
        cols["from unseen"].append(gen["unseen"][i])
        j = np.flatnonzero(ids_seen == name)
        cols["from training"].append(gen["seen"][int(j[0])] if len(j) else 0 * gen["unseen"][i])
    tiles = []
    for start in range(0, len(names), block):
        part = {k: np.stack(v[start : start + block]) for k, v in cols.items()}
        title = "Wav2Pix: faces from 1 s of speech" if not start else ""
        tiles.append(tile_faces(part, names[start : start + block], title))
    height = max(t.shape[0] for t in tiles)
    tiles = [
        np.pad(t, ((0, height - t.shape[0]), (0, 8), (0, 0)), constant_values=255) for t in tiles
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(path)
    return path


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        if "accuracy" in v:
            ci = v.get("interval")
            band = f" [{ci['low']:.3f}, {ci['high']:.3f}]" if ci else ""
            return f"{v['accuracy']:.3f}{band} (balanced {v['balanced']:.3f}, n={v['n']})"
        if "low" in v and "high" in v:  # a bootstrap interval over identities
            return (
                f"{v['value']:.3f} [{v['low']:.3f}, {v['high']:.3f}] "
                f"({v['n_identities']} identities, {v['n_segments']} faces)"
            )
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:.3f}"
    return escape(str(v))


def _table(title: str, entries: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(k.replace('_', ' '))}</td><td>{_fmt(v)}</td></tr>"
        for k, v in entries.items()
    )
    return f"<h2>{escape(title)}</h2><table>{rows}</table>"


def speech2face_html(metrics: dict) -> str:
    """The table "Speech2Face on the same protocol": Wav2Pix's identity accuracy and
    Speech2Face's recall@1 and gender, each beside chance or its baselines ("" without a
    "speech2face" block)."""
    from speech2face.wav2pix.beside import comparison_rows

    s = metrics.get("speech2face")
    if not s:
        return ""
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(value)}</td><td>{escape(chance)}</td></tr>"
        for name, value, chance in comparison_rows(metrics)
    )
    return (
        f"<h2>Speech2Face on the same protocol</h2><p>{escape(s['split'])}: "
        f"{escape(s['protocol'])}; shared identities: {escape(s['shared_identities']['note'])}. "
        f"From {escape(s['source'])}.</p><table><tr><th>system: figure</th><th>value</th>"
        f"<th>chance / baselines</th></tr>{rows}</table>"
    )


def html_report(metrics: dict) -> str:
    """A self-contained HTML page of the metrics, with faces.png."""
    inc = metrics.get("fid_inception")
    inception = (
        _table("FID, Inception-v3 pool features", inc)
        if inc
        else "<h2>FID, Inception-v3</h2><p>not computed: pass --inception-weights</p>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Wav2Pix report</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:auto}}td,th{{padding:2px 8px}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>Wav2Pix evaluation: {escape(metrics["split"])} split</h1>
<p>Protocol: {escape(metrics["protocol"] or "as given")}; {metrics["identities"]} identities;
{metrics["image_size"]} px faces; pairs generated from: {_fmt(metrics["pairs"])}.
Identity classifier: {escape(metrics["identity_classifier"])}.</p>
<img src="faces.png" style="max-width:100%">
{
        _table(
            "Identity accuracy (chance = 1 / identities; [95 % interval over identities])",
            metrics["identity_accuracy"],
        )
    }
{speech2face_html(metrics)}
{
        _table(
            "Landmark-detection ratio (dlib finds a face and its 68 landmarks)",
            metrics["landmark_detection_ratio"],
        )
    }
{
        _table(
            "The same, generated faces, with 95 % intervals over identities",
            metrics.get("landmark_detection_interval") or {},
        )
    }
{_table("FID, dlib descriptors (128-D)", metrics["fid_dlib"])}
{inception}
{
        _table(
            "The model's speaker classifier on the speech embedding",
            metrics["speaker_classifier_accuracy"],
        )
    }
</body></html>"""


def write_report(out: Path, metrics: dict, sets: dict, gen: dict, rows: dict) -> Path:
    """``faces.png`` and ``index.html`` into ``out``; returns the page's path."""
    faces_figure(out / "faces.png", sets, gen, rows)
    (out / "index.html").write_text(html_report(metrics))
    return out / "index.html"
