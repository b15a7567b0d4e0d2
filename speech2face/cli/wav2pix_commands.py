"""CLI of Wav2Pix: `speech2face wav2pix prepare | train | predict | evaluate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _clips(args):
    """Clips and source failures of PATH for `wav2pix prepare` (every source of `prepare`,
    plus the YouTube-channel CSV)."""
    from speech2face.cli.data_commands import _clips_for

    if args.source == "youtube":
        from speech2face.dataset.sources.youtube_channels import channel_clips

        download = Path(args.download_dir or Path(args.output) / "downloads")
        return channel_clips(
            args.path, download, args.max_videos, args.max_seconds, args.test_fraction
        )
    shared = argparse.Namespace(
        path=args.path,
        source=args.source,
        output=args.output,
        download_dir=args.download_dir,
        from_id=args.from_id,
        to_id=args.to_id,
        url_template=args.url_template,
        test_fraction=args.test_fraction,
        split=None,
    )
    return _clips_for(shared)


def _cmd_prepare(args) -> int:
    from speech2face.dataset.pairs import PairConfig, build_pairs, split_clips, summary

    clips, failures = _clips(args)
    clips = split_clips(clips, args.protocol, args.test_fraction)
    config = PairConfig(**{k: v for k, v in vars(args).items() if k in PairConfig.__annotations__})
    manifest = build_pairs(
        clips, args.output, config, args.workers, args.clips_per_shard, failures, args.protocol
    )
    print(summary(manifest))
    print(f"pairs: {args.output}/pairs.json  failures: {args.output}/failures.csv")
    return 0


def _cmd_train(args) -> int:
    from speech2face.training.wav2pix import Wav2PixConfig, train_wav2pix

    config = Wav2PixConfig.pick(args)
    train_wav2pix(args.data, args.output, config)
    print(f"run: {args.output}  (use it with `speech2face wav2pix predict --model {args.output}`)")
    return 0


def _cmd_predict(args) -> int:
    import numpy as np
    from PIL import Image

    from speech2face.errors import UserError
    from speech2face.wav2pix import Wav2Pix

    model = Wav2Pix.load(args.model, stochastic=args.stochastic)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for speech in args.speech:
        try:
            images, embeddings = model.predict(speech, per_window=args.per_window)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        stem = Path(speech).stem
        if args.per_window:
            for i, image in enumerate(images):
                Image.fromarray(image).save(out / f"{stem}_{i:03d}.png")
            written = f"{len(images)} faces {stem}_NNN.png"
        else:
            Image.fromarray(images).save(out / f"{stem}.png")
            written = f"{stem}.png"
        if args.save_embeddings:
            np.save(out / f"{stem}.npy", embeddings)
        print(f"{speech} -> {out / written}")
    print(f"{len(args.speech) - failed} of {len(args.speech)} recordings -> faces in {out}")
    return 1 if failed else 0


def _cmd_evaluate(args) -> int:
    from speech2face.evaluation.wav2pix_metrics import evaluate_wav2pix, summary_lines

    metrics = evaluate_wav2pix(
        args.data,
        args.model,
        args.output,
        max_pairs=args.max_pairs or None,
        inception_weights=args.inception_weights,
        split=args.split,
        stochastic=args.stochastic,
    )
    print("\n".join(summary_lines(metrics)))
    print(f"report: {Path(args.output) / 'index.html'}")
    return 0


def _prepare_arguments(p) -> None:
    p.add_argument("path", help="folder, manifest CSV, VoxCeleb root, AVSpeech or channel CSV")
    p.add_argument("-o", "--output", required=True, help="pair dataset folder (rerun: resume)")
    p.add_argument(
        "--source",
        choices=["folder", "manifest", "voxceleb", "avspeech", "youtube"],
        help="how to read PATH (default: folder, or manifest for a .csv); youtube: a CSV "
        "of Channel-URL, Name, Gender",
    )
    p.add_argument(
        "--protocol",
        choices=["seen", "disjoint"],
        default="seen",
        help="seen: every identity on both sides, held-out time of each clip in test_seen "
        "(the Wav2Pix protocol); disjoint: the source's identity split",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.3,
        help="share of each clip's time held out (seen), or of identities (disjoint)",
    )
    p.add_argument("--image-size", type=int, choices=[64, 128], default=128, help="stored crop")
    p.add_argument("--frames-per-second", type=float, default=2.0)
    p.add_argument("--factor", type=int, default=5, help="1 s windows per face")
    p.add_argument("--context-seconds", type=float, default=4.0, help="window distance to frame")
    p.add_argument("--crop-scale", type=float, default=1.4, help="crop side / face box side")
    p.add_argument("--detector", choices=["hog", "cnn"], default="hog")
    p.add_argument("--min-rms", type=float, default=0.003, help="silence threshold (RMS)")
    p.add_argument("--seed", type=int, default=0, help="seed of the window draws")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--clips-per-shard", type=int, default=4)
    p.add_argument("--download-dir", help="avspeech/youtube downloads (default OUTPUT/downloads)")
    p.add_argument("--max-videos", type=int, default=15, help="youtube: videos per channel")
    p.add_argument("--max-seconds", type=float, help="youtube: keep the first seconds only")
    p.add_argument("--from-id", "--from_id", type=int, default=0, dest="from_id")
    p.add_argument("--to-id", "--to_id", type=int, default=None, dest="to_id")
    p.add_argument("--url-template", default="https://www.youtube.com/watch?v={youtube_id}")


def _train_arguments(p) -> None:
    p.add_argument("--data", required=True, help="pair dataset from `wav2pix prepare`")
    p.add_argument("-o", "--output", required=True, help="run folder (rerun: resume exactly)")
    p.add_argument(
        "--preset",
        choices=["small", "paper"],
        default="small",
        help="paper: the authors' sizes, batch 64; small: a quarter of the channels, batch 16",
    )
    p.add_argument("--image-size", type=int, choices=[64, 128], default=64)
    p.add_argument("--batch-size", "--batchsize", type=int, default=None, dest="batch_size")
    p.add_argument("--epochs", type=float, default=20.0, help="passes over the training pairs")
    p.add_argument("--steps", type=int, default=None, help="training steps (overrides --epochs)")
    p.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    p.add_argument("--lr-d", type=float, default=4e-4, help="discriminator learning rate")
    p.add_argument("--lr-g", type=float, default=1e-4, help="generator learning rate")
    p.add_argument(
        "--lr-encoder",
        type=float,
        default=None,
        help="speech encoder and classifier learning rate (default: --lr-g, the paper)",
    )
    p.add_argument(
        "--embedding-gain",
        type=float,
        default=1.0,
        help="constant the embedding is multiplied by at the generator input (1: the paper; "
        "the CPU demo uses 100 to learn in thousands of steps, see the README)",
    )
    p.add_argument(
        "--balanced",
        action="store_true",
        help="draw identities uniformly, then a pair (the paper: shuffled passes over pairs)",
    )
    p.add_argument(
        "--num_gpu",
        "--num-gpu",
        type=int,
        default=0,
        dest="num_gpu",
        help="data-parallel devices (DataParallel on JAX, MirroredStrategy on TF)",
    )
    p.add_argument("--seed", type=int, default=0)


def register(sub) -> None:
    """Add `wav2pix` and its subcommands to the `speech2face` parser."""
    top = sub.add_parser(
        "wav2pix",
        help="Wav2Pix (Duarte et al., ICASSP 2019): a face GAN conditioned on raw speech",
        description="Wav2Pix: pairs of 1 s of speech and a face, a SEGAN speech encoder, an "
        "LSGAN generator and discriminator (64 or 128 px) and a speaker classifier.",
    )
    wsub = top.add_subparsers(dest="wav2pix_command", metavar="STAGE")
    p = wsub.add_parser(
        "prepare",
        help="cut clips into (1 s of speech, face) pairs in resumable HDF5 shards",
        description="Faces a few times a second (square dlib crops, no alignment) with "
        "random 1 s windows of the speech within 4 s of each; seen-identity split by time.",
    )
    _prepare_arguments(p)
    p.set_defaults(func=_cmd_prepare)
    p = wsub.add_parser(
        "train",
        help="train the GAN (one D step, one G step per batch); rerun to resume exactly",
        description="LSGAN with feature matching, L1 and speaker cross-entropy; Adam 4e-4/1e-4. "
        "Writes checkpoints, history.csv, TensorBoard logs, a face grid per epoch and the "
        "exported models with run.json.",
    )
    _train_arguments(p)
    p.set_defaults(func=_cmd_train)
    p = wsub.add_parser(
        "predict",
        help="faces from speech recordings (1 s windows)",
        description="Any audio or video file: one face from the average embedding of its 1 s "
        "windows, or one face per window (--per-window).",
    )
    p.add_argument("speech", nargs="+", metavar="SPEECH", help="audio or video files")
    p.add_argument("-o", "--output", required=True, help="folder for the PNG faces")
    p.add_argument("--model", required=True, help="run folder of `wav2pix train`")
    p.add_argument("--per-window", action="store_true", help="one face per 1 s window")
    p.add_argument("--stochastic", action="store_true", help="dropout on (the authors' way)")
    p.add_argument("--save-embeddings", action="store_true", help="also write .npy embeddings")
    p.set_defaults(func=_cmd_predict)
    p = wsub.add_parser(
        "evaluate",
        help="identity accuracy, landmark-detection ratio and FID beside chance and real faces",
        description="Generates faces from seen (training) and unseen (held-out) speech and "
        "writes metrics.json, faces.png and index.html.",
    )
    p.add_argument("--data", required=True, help="pair dataset folder")
    p.add_argument("--model", required=True, help="run folder")
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.add_argument("--split", help="held-out split (default test_seen, else test)")
    p.add_argument("--max-pairs", type=int, default=400, help="pairs per split (0: all)")
    p.add_argument(
        "--stochastic", action="store_true", help="generator dropout on (the authors' way)"
    )
    p.add_argument(
        "--inception-weights",
        help="Inception-v3 no-top Keras weights (.h5) for the usual FID; not downloaded",
    )
    p.set_defaults(func=_cmd_evaluate)
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])
