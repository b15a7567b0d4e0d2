"""Pictures of results (matplotlib, Agg backend): spectrograms, face grids, recall curves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speech2face.audio import SAMPLE_RATE


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_spectrogram(
    spec: np.ndarray,
    path: str | os.PathLike,
    title: str = "",
    hop_seconds: float = 0.01,
    sample_rate: int = SAMPLE_RATE,
) -> Path:
    """Save a picture of a compressed spectrogram.

    Args:
        spec: (n_frames, 257, 2) compressed (re, im) pair from ``audio.spectrogram``; the
            magnitude of the pair is drawn, time on x (s), frequency on y (Hz).
        path: output image file (.png, .jpg, .pdf).
    Returns:
        The written path.
    """
    from speech2face.audio import spectrogram_magnitude

    plt = _pyplot()
    mag = spectrogram_magnitude(spec)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    extent = [0, mag.shape[0] * hop_seconds, 0, sample_rate / 2]
    im = ax.imshow(mag.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or "compressed spectrogram |(re, im)|, power 0.3")
    fig.colorbar(im, ax=ax, label="magnitude")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def face_grid(
    columns: dict[str, np.ndarray],
    path: str | os.PathLike,
    landmarks=None,
    row_labels=None,
    title: str = "",
) -> Path:
    """Save a grid of face images: one column per entry of ``columns``, one row per face.

    Args:
        columns: {title: (N, H, W, 3) images, uint8 or float in [0, 1]}.
        landmarks: optional {column title: (N, 68, 2) (x, y) pixel landmarks} drawn as dots.
        row_labels: optional N strings shown at the left of each row.
    Returns:
        The written path.
    """
    plt = _pyplot()
    names = list(columns)
    n = len(next(iter(columns.values())))
    fig, axes = plt.subplots(
        n, len(names), figsize=(2.0 * len(names), 2.0 * n + 0.4), squeeze=False
    )
    for j, name in enumerate(names):
        for i in range(n):
            ax = axes[i, j]
            img = np.asarray(columns[name][i])
            if img.dtype != np.uint8:
                img = np.clip(img, 0, 1)
            ax.imshow(img)
            if landmarks and name in landmarks:
                pts = np.asarray(landmarks[name][i])
                ax.scatter(pts[:, 0], pts[:, 1], s=2, c="lime")
                ax.set_xlim(-0.5, img.shape[1] - 0.5)
                ax.set_ylim(img.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[i])[:18], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def spectrogram_thumbnail(wave: np.ndarray, size: int = 128) -> np.ndarray:
    """A (size, size, 3) float RGB picture of a waveform's compressed spectrogram."""
    import cv2
    from matplotlib import colormaps

    from speech2face.audio import spectrogram, spectrogram_magnitude

    mag = spectrogram_magnitude(spectrogram(wave))[:, ::-1].T  # frequency up
    mag = mag / (mag.max() + 1e-9)
    return colormaps["magma"](cv2.resize(mag, (size, size)))[..., :3]


def recall_curves(metrics: dict, path: str | os.PathLike) -> Path:
    """Plot recall@K against K for both galleries and every distance, beside chance."""
    plt = _pyplot()
    ret = metrics["retrieval"]
    fig, axes = plt.subplots(1, len(ret), figsize=(5 * len(ret), 3.6), squeeze=False)
    for ax, (gallery, r) in zip(axes[0], ret.items(), strict=True):
        ks = list(r["chance"])
        for metric, rec in r["recall"].items():
            ax.plot([int(k) for k in ks], [rec[k] for k in ks], marker="o", label=metric)
        chance = [r["chance"][k] for k in ks]
        ax.plot(ks, chance, "k--", label="chance K/N")
        ax.set_title(f"{gallery} gallery (N = {r['gallery_size']}, {r['probes']} voices)")
        ax.set_xlabel("K")
        ax.set_ylabel("recall@K")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_pictures(
    out: Path, metrics: dict, seg: dict, from_voice: np.ndarray, from_face: np.ndarray
) -> list[Path]:
    """The pictures of one protocol: ``faces_<split>.png`` and ``recall_<split>.png``.

    Args:
        metrics: the split's metrics
        (:func:`speech2face.speech2face.evaluation.evaluate.evaluate_split`).
        seg: the split's segments; from_voice, from_face: (N, S, S, 3) rendered faces.
    """
    from speech2face.dataset.shards import decode_audio

    split = metrics["split"]
    ids = seg["identity"]
    first = [int(np.flatnonzero(ids == name)[0]) for name in sorted(set(ids))]
    faces = face_grid(
        {
            "voice (spectrogram)": np.stack(
                [spectrogram_thumbnail(decode_audio(seg["audio"][i])) for i in first]
            ),
            "true face": seg["face"][first],
            "decoded from true feature": from_face[first],
            "decoded from voice": from_voice[first],
        },
        out / f"faces_{split}.png",
        row_labels=ids[first],
        title=f"{metrics.get('protocol', split)}: voice -> predicted face, beside the true "
        "face (one segment per identity)",
    )
    pictures = [faces, recall_curves(metrics, out / f"recall_{split}.png")]
    if metrics.get("attributes"):
        pictures.append(
            attribute_confusions(metrics["attributes"], out / f"attributes_{split}.png")
        )
    return pictures


def attribute_confusions(attributes: dict, path: str | os.PathLike) -> Path:
    """Confusion matrices of the face judges (rows: the true face's class, columns: the
    decoded face's; each row normalised), for gender, age class and ethnicity, in the
    manner of the Speech2Face paper's Fig. 5."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, name, title in zip(
        axes, ("gender", "age", "race"), ("gender", "age class", "ethnicity"), strict=True
    ):
        counts = np.asarray(attributes[name]["confusion"], np.float64)
        rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
        ax.imshow(rows, vmin=0, vmax=1, cmap="Blues")
        labels = attributes[name]["classes"]
        ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=7)
        agree = attributes[name].get("agreement", attributes[name].get("class_agreement"))
        ax.set_title(
            f"{title}: agreement {agree:.2f} (chance {attributes[name]['chance']:.2f})", fontsize=9
        )
        ax.set_xlabel("face decoded from voice", fontsize=8)
        ax.set_ylabel("true face", fontsize=8)
    fig.suptitle("face judges (offline, fitted on UTKFace): decoded vs true faces", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _protocol_html(m: dict) -> str:
    from html import escape

    rows = []
    for gallery, r in m["retrieval"].items():
        for metric, rec in r["recall"].items():
            cells = "".join(f"<td>{v:.3f}</td>" for v in rec.values())
            rows.append(
                f"<tr><td>{gallery} (N={r['gallery_size']})</td><td>{metric}</td>{cells}</tr>"
            )
        chance = "".join(f"<td>{v:.3f}</td>" for v in r["chance"].values())
        rows.append(
            f"<tr class=c><td>{gallery} (N={r['gallery_size']})</td><td>chance</td>{chance}</tr>"
        )
    ks = "".join(f"<th>R@{k}</th>" for k in next(iter(m["retrieval"].values()))["chance"])
    sim = "".join(
        f"<tr><td>{escape(k)}</td><td>{v['mean']:.3f}</td><td>{v['std']:.3f}</td></tr>"
        for k, v in m["similarity"].items()
    )
    if "spread" in m:
        sp = m["spread"]
        sim += (
            f"<tr><td>spread of predictions (deg to centroid)</td>"
            f"<td>{sp['predicted_deg']['mean']:.3f}</td><td>{sp['predicted_deg']['std']:.3f}</td>"
            f"</tr><tr class=c><td>spread of true features</td>"
            f"<td>{sp['true_deg']['mean']:.3f}</td><td>{sp['true_deg']['std']:.3f}</td></tr>"
        )
    cran = "".join(
        f"<tr><td>{escape(k)}</td><td>{v['r']:.3f}</td><td>{v['p']:.3g}</td></tr>"
        for k, v in m["craniofacial"].items()
    )
    gender = ""
    if "gender" in m:
        g = m["gender"]
        counts = g.get("segments_by_gender", {})
        balance = ", ".join(f"{n} {k}" for k, n in counts.items())
        head = "<tr><th>route</th><th>balanced accuracy</th><th>accuracy</th></tr>"
        cells = []
        for k, v in g.items():
            if not isinstance(v, float) or k in ("majority_baseline", "pitch_threshold_hz"):
                continue
            bal = g.get("balanced", {}).get(k)
            baseline = " class=c" if "baseline" in k else ""
            cells.append(
                f"<tr{baseline}><td>{escape(k)}</td><td>{'' if bal is None else f'{bal:.3f}'}"
                f"</td><td>{v:.3f}</td></tr>"
            )
        majority = g.get("majority_baseline")
        cells.append(
            f"<tr class=c><td>majority rate / chance</td><td>0.500</td>"
            f"<td>{'' if majority is None else f'{majority:.3f}'}</td></tr>"
        )
        gender = (
            f"<h3>Gender agreement</h3><p>segments by gender: {escape(balance)}; pitch "
            f"threshold {g.get('pitch_threshold_hz', float('nan')):.0f} Hz</p><table>"
            + head
            + "".join(cells)
            + "</table>"
        )
    ldr = m["landmark_detection_ratio"]
    split = escape(m["split"])
    return f"""<h2>{escape(m.get("protocol", m["split"]))}: split {split}</h2>
<p>{m["segments"]} voice segments of {m["identities"]} identities.</p>
<img src="faces_{split}.png" style="max-width:100%">
<h3>Retrieval (Speech2Face §4.1)</h3><table><tr><th>gallery</th><th>distance</th>{ks}</tr>
{"".join(rows)}</table><img src="recall_{split}.png" style="max-width:100%">
<h3>Feature similarity (predicted vs true)</h3><table><tr><th></th><th>mean</th><th>std</th></tr>
{sim}</table>{gender}{_attributes_html(m)}{_literature_html(m)}
<h3>Craniofacial measures (Table 2): Pearson r, voice-decoded vs face-decoded</h3>
<table><tr><th>measure</th><th>r</th><th>p</th></tr>{cran}</table>
<h3>Landmark-detection ratio (Wav2Pix)</h3><p>faces decoded from voice:
{ldr["from_voice"]:.3f}; from the true feature: {ldr["from_true_feature"]:.3f}</p>"""


INTERVAL_NAMES = {
    "identity_recall1": "identity recall@1 (one gallery of all identities)",
    "segment_recall1": "segment recall@1",
    "sf2f_recall1": "SF2F recall@1",
    "sf2f_recall5": "SF2F recall@5",
    "sf2f_recall10": "SF2F recall@10",
    "matching": "1:2 voice-face matching (mean share of pairs won per voice)",
    "matching_gender_matched": "1:2 matching, gender-matched pairs",
    "gender_decoded_face_from_voice": "gender, face decoded from voice (balanced)",
    "gender_predicted_feature": "gender, predicted feature (balanced)",
    "gender_voice_pitch_baseline": "gender, voice-pitch baseline (balanced)",
}


def _chance(key: str, lit: dict) -> str:
    sf, i = lit["sf2f"], lit["intervals"][key]
    if key in ("identity_recall1", "segment_recall1"):
        return f"{1 / i['n_identities' if key == 'identity_recall1' else 'n_segments']:.3f}"
    if key.startswith("sf2f_recall"):
        k = key.removeprefix("sf2f_recall")
        return f"{sf['chance'][k]:.3f}"
    if key.startswith(("matching", "gender")):
        return "0.500"
    return ""


def _attributes_html(m: dict) -> str:
    from html import escape

    from speech2face.speech2face.evaluation.summary import attribute_lines

    lines = attribute_lines(m)
    if not lines:
        return ""
    return (
        f"<h3>Age, gender, ethnicity (offline face judges)</h3><p>{escape(lines[0].strip())}"
        f"</p><img src='attributes_{escape(m['split'])}.png' alt='confusion matrices'>"
    )


def _literature_html(m: dict) -> str:
    """SF2F retrieval, voice-face matching and every rate's 95 % interval (issue 21)."""
    from html import escape

    lit = m.get("literature")
    if not lit:
        return ""
    rows = []
    for key, i in lit["intervals"].items():
        rows.append(
            f"<tr><td>{escape(INTERVAL_NAMES.get(key, key))}</td><td>{i['value']:.3f}</td>"
            f"<td>[{i['low']:.3f}, {i['high']:.3f}]</td><td class=c>{_chance(key, lit)}</td>"
            f"<td>{i['n_identities']} / {i['n_segments']}</td></tr>"
        )
    sf, mt = lit["sf2f"], lit.get("matching")
    notes = [
        f"scorer: {escape(lit.get('scorer', 'the face features'))}",
        f"SF2F galleries of {sf['gallery_size']} identities ({sf['galleries']})",
    ]
    if sf.get("note"):
        notes.append(escape(sf["note"]))
    if mt:
        ways = ", ".join(
            f"{n}-way {v:.3f}"
            for n, v in mt["n_way"].items()
            if v is not None and int(n) in (2, 5, 10)
        )
        notes.append(f"{mt['pairs']:,} voice-face pairs; {ways} (chance 1/N)")
    return (
        "<h3>Beside the literature, with 95 % intervals (bootstrap over identities)</h3>"
        f"<p>{'; '.join(notes)}</p><table><tr><th>figure</th><th>value</th><th>95 % interval"
        "</th><th>chance</th><th>identities / segments</th></tr>" + "".join(rows) + "</table>"
    )


def _fit_html(fit: dict | None) -> str:
    if not fit:
        return ""
    alarm = (
        '<p style="color:#c00;font-weight:bold">predictions collapsed: angle spread '
        f"{fit['spread_deg']:.2f} deg &lt; 2 deg (one face for every voice)</p>"
        if fit["collapsed"]
        else ""
    )
    return f"""<h2>Fit on the training split</h2>{alarm}
<p>{fit["segments"]} training segments of {fit["identities"]} identities, through the model
in inference mode: recall@1 {fit["recall1_segment"]:.3f} (chance {fit["chance_segment"]:.3f}),
identity recall@1 {fit["recall1_identity"]:.3f} (chance {fit["chance_identity"]:.3f}); spread of
the predictions {fit["spread_deg"]:.1f} deg (true features {fit["true_spread_deg"]:.1f} deg);
angle predicted vs true {fit["angle_deg"]:.1f} deg.</p>"""


def html_report(metrics: dict) -> str:
    """A self-contained HTML page of an evaluation (:func:`evaluate`'s metrics): the fit on
    the training split, then one section per protocol with its pictures."""
    from html import escape

    sections = "".join(_protocol_html(m) for m in metrics["protocols"].values())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>speech2face report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}td,th{{padding:2px 8px}}
tr.c{{color:#777;font-style:italic}}table{{border-collapse:collapse}}
tr:nth-child(even){{background:#f3f3f3}}</style></head><body>
<h1>Speech2Face evaluation</h1>
<p>Face features: {escape(metrics["face_encoder"])}; training recipe
{escape(str(metrics.get("recipe", "")))}. Every figure stands beside its chance row.</p>
{_fit_html(metrics.get("fit"))}{sections}
</body></html>"""
