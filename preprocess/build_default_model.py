"""Rebuild the shipped default model (``speech2face/speech2face/default_model``) from its data.

    python preprocess/build_default_model.py --data ../shared/data --work runs/default_model

The recipe of MODEL_CARD.md, stage by stage (each resumes when the script is run again):

1. ``prepare`` the sample's talking-face clips (split mode ``both``, as the demo);
2. ``prepare-faces`` UTKFace (``utkface.csv``: adults, the canonical filter at reading);
3. ``train-decoder`` on the dataset's faces, the sample's face photos and videos and
   UTKFace's train split: preset ``medium128``, the edge loss, a cosine schedule, then
   one detail epoch (the local Laplacian-energy loss, weight 20, Adam 3e-4);
4. ``train`` the voice side: the cross-validated head on the pretrained GE2E speaker
   encoder (issue 19's route), on the sample's 18 training identities;
5. copy the bundle into the package, with the decoder's test figures in ``bundle.json``
   and no machine paths, and print every file's sha256 and the total size (<= 20 MB).

Training threads and the seeds are fixed (``keras.utils.set_random_seed`` in each stage,
TensorFlow's op determinism on), so a rerun on the same machine and library versions is
meant to give the same weights; across CPUs and library versions floating-point order may
differ. The decoder stage takes about 45 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

RECIPE = dict(
    preset="medium128",
    epochs=8,
    max_face_score=12.0,  # UTKFace is in the wild: 8 keeps 44 % of its adults, 12 keeps 75 %
    batch_size=32,
    learning_rate=1e-3,
    schedule="cosine",
    edge_weight=1.0,
    detail_epochs=1,  # then one epoch that also matches the photos' local detail (issue 20)
    detail_weight=20.0,
    seed=0,
)
MAX_BYTES = 20 * 2**20  # the package's budget for the shipped bundle


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data", help="the sample data (manifest.csv)")
    p.add_argument("--work", default="runs/default_model", help="folder for the stages")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--decoder", help="use this trained decoder run instead of stage 3")
    p.add_argument(
        "--install",
        action="store_true",
        help="copy the bundle into speech2face/speech2face/default_model "
        "(else only into WORK/bundle)",
    )
    args = p.parse_args(argv)

    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    import speech2face
    from speech2face import integrity
    from speech2face.speech2face.bundle import DEFAULT_BUNDLE

    data, work = Path(args.data), Path(args.work)
    manifest = data / "manifest.csv"
    speech2face.prepare(manifest, work / "dataset", workers=args.workers, split_mode="both")
    speech2face.prepare_faces(data / "utkface.csv", work / "utkface", workers=args.workers)
    decoder = Path(args.decoder) if args.decoder else work / "decoder"
    if not args.decoder:
        speech2face.train_decoder(
            work / "dataset",
            decoder,
            faces=[work / "utkface", manifest],
            workers=args.workers,
            **RECIPE,
        )
    speech2face.train(work / "dataset", decoder, work / "bundle", voice_encoder="ge2e")

    config = json.loads((work / "bundle" / "bundle.json").read_text())
    metrics = json.loads((decoder / "decoder_metrics.json").read_text())
    config["decoder_metrics"] = metrics  # the decoder's test figures (not a recorded file)
    config["trained_on"] = (
        "speech2face sample data (manifest.csv: 18 training identities' clips, face "
        "photos and videos) and UTKFace's train split (adults), by "
        "preprocess/build_default_model.py"
    )
    for key in ("dataset", "decoder_run"):  # machine paths of the build
        if key in config:
            config[key] = Path(str(config[key])).name
    (work / "bundle" / "bundle.json").write_text(json.dumps(config, indent=1))
    files = sorted(p for p in (work / "bundle").iterdir() if not p.name.startswith("."))
    total = sum(p.stat().st_size for p in files)
    for path in files:
        print(f"{integrity.sha256(path)}  {path.stat().st_size:>10,}  {path.name}")
    print(f"total {total / 2**20:.1f} MiB (budget {MAX_BYTES / 2**20:.0f} MiB)")
    if total > MAX_BYTES:
        raise SystemExit(f"the bundle is {total:,} bytes, over the {MAX_BYTES:,} budget")
    if args.install:
        DEFAULT_BUNDLE.mkdir(exist_ok=True)
        for path in files:
            shutil.copyfile(path, DEFAULT_BUNDLE / path.name)
        print(f"installed into {DEFAULT_BUNDLE} (MODEL_CARD.md stays as written)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
