"""Make the README's demo pictures from a demo run, showing only the GRID identities.

The sample's GRID clips are CC BY 4.0, so the README may show their faces; the report of
`speech2face demo` (RUN/report) shows every identity. One row per GRID identity and
protocol: its voice, the true face, the face decoded from the true feature and the face
decoded from the voice; and the recall@K curves of both protocols.

    python docs/demo_pictures.py runs/demo        # writes docs/demo_faces.png, demo_recall.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import speech2face
from speech2face.dataset.shards import decode_audio
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.evaluation import report

DOCS = Path(__file__).parent
PROTOCOLS = {"test": "unseen", "test_seen": "seen"}  # row label: the identity was heard or not


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="output folder of `speech2face demo`")
    args = parser.parse_args()
    model = speech2face.load_model(args.run / "bundle")
    dataset = Dataset(args.run / "dataset")
    columns: dict[str, list] = {}
    labels = []
    for split, protocol in PROTOCOLS.items():
        seg = dataset.load(split, ("audio", "face", "feature", "identity"))
        ids = seg["identity"]
        for name in sorted(n for n in set(ids) if n.startswith("grid")):
            i = int(np.flatnonzero(ids == name)[0])  # the identity's first segment
            wave = decode_audio(seg["audio"][i])
            feature = model.features(wave[None])
            row = {
                "voice (spectrogram)": report.spectrogram_thumbnail(wave),
                "true face": seg["face"][i],
                "decoded from true feature": model.render(seg["feature"][i : i + 1])[0],
                "decoded from voice": model.render(feature)[0],
            }
            for title, image in row.items():
                columns.setdefault(title, []).append(image)
            labels.append(f"{name[5:]} {protocol}")  # face_grid shows 18 characters
    faces = {title: images for title, images in columns.items()}
    report.face_grid(faces, DOCS / "demo_faces.png", row_labels=labels)
    metrics = json.loads((args.run / "report" / "metrics.json").read_text())
    report.recall_curves(
        metrics["protocols"]["test"], DOCS / "demo_recall.png"
    )  # the paper's protocol; test_seen's curves are in the run's report
    print(f"wrote {DOCS / 'demo_faces.png'} and {DOCS / 'demo_recall.png'}")


if __name__ == "__main__":
    main()
