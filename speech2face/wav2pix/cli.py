"""CLI of Wav2Pix: `speech2face wav2pix prepare | train | predict | evaluate`.

Options are the fields of the config dataclasses (:mod:`speech2face.cli.options`): the
sources' SourceConfig, PairConfig and PairBuildConfig for `prepare`, Wav2PixConfig for
`train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speech2face.cli.options import add_options, config_options, option
from speech2face.cli.sources import add_source_arguments
from speech2face.dataset.sources import SourceConfig
from speech2face.faces.detect import DETECTORS
from speech2face.wav2pix.config import (
    IMAGE_SIZES,
    MAX_PAIRS,
    SPLIT_MODE,
    PairBuildConfig,
    PairConfig,
    Wav2PixConfig,
)
from speech2face.wav2pix.pair_shards import FAILURES, MANIFEST


def _cmd_prepare(args) -> int:
    from speech2face import api

    options = config_options(args, SourceConfig, PairConfig, PairBuildConfig)
    api.wav2pix_prepare(args.path, args.output, **options)
    print(f"pairs: {args.output}/{MANIFEST}  failures: {args.output}/{FAILURES}")
    return 0


def _cmd_train(args) -> int:
    from speech2face import api

    api.wav2pix_train(args.data, args.output, **config_options(args, Wav2PixConfig))
    print(f"run: {args.output}  (use it with `speech2face wav2pix predict --model {args.output}`)")
    return 0


def _cmd_predict(args) -> int:
    from speech2face import api
    from speech2face.predict_files import check_output_folder, predict_files

    check_output_folder(args.output, args.speech)  # before the model loads
    model = api.load_wav2pix(args.model, stochastic=args.stochastic)
    if args.per_window:
        return _predict_per_window(model, args)
    result = predict_files(model, args.speech, args.output, save_vectors=args.save_embeddings)
    done, skipped = len(result["written"]), len(result["skipped"])
    print(f"{done} of {done + skipped} recordings -> faces in {args.output}")
    return 1 if skipped else 0


def _predict_per_window(model, args) -> int:
    """``--per-window``: NAME_NNN.png per 1 s window, NAME unique as `predict` makes it;
    OUT/predictions.csv gets a row per recording (its first face, the window count)."""
    from speech2face import audio
    from speech2face.errors import UserError
    from speech2face.predict_files import (
        output_names,
        save_npy,
        save_png,
        update_record,
        write_atomic,
    )

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    names = output_names(args.speech)
    failed, rows = 0, []
    for speech in args.speech:
        source = Path(speech).resolve()
        try:
            wave = audio.load_audio(speech)
            images, embeddings = model.predict(wave, per_window=True)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            rows.append({"voice": str(source), "note": f"skipped: {exc}"})
            failed += 1
            continue
        stem = names[source]
        for i, image in enumerate(images):
            save_png(out / f"{stem}_{i:03d}.png", image, str(speech), "")
        if args.save_embeddings:
            write_atomic(out / f"{stem}.npy", lambda tmp, e=embeddings: save_npy(tmp, e))
        print(f"{speech} -> {out / stem}_NNN.png ({len(images)} faces)")
        last = f"{stem}_{len(images) - 1:03d}.png"
        rows.append(
            {
                "voice": str(source),
                "face": f"{stem}_000.png",
                "seconds": f"{wave.size / audio.SAMPLE_RATE:.2f}",
                "windows": len(images),
                "speech_fraction": f"{audio.speech_fraction(wave, audio.SILENCE_RMS):.3f}",
                "note": f"one face per 1 s window: {stem}_000.png to {last}",
            }
        )
    update_record(out, rows)
    print(f"{len(args.speech) - failed} of {len(args.speech)} recordings -> faces in {out}")
    return 1 if failed else 0


def _cmd_evaluate(args) -> int:
    import json

    from speech2face import api
    from speech2face.wav2pix.summary import over_runs, over_runs_lines, summary_lines

    out = Path(args.output)
    runs = [Path(m) for m in args.model]
    folders = [out] if len(runs) == 1 else [out / f"run-{i}-{r.name}" for i, r in enumerate(runs)]
    results = []
    for run, folder in zip(runs, folders, strict=True):
        metrics = api.wav2pix_evaluate(
            args.data,
            run,
            folder,
            split=args.split,
            max_pairs=args.max_pairs or None,
            inception_weights=args.inception_weights,
            stochastic=args.stochastic,
            speech2face_report=args.speech2face_report,
        )
        if len(runs) > 1:
            print(f"{run}:")
        print("\n".join(summary_lines(metrics)))
        print(f"report: {folder / 'index.html'}")
        results.append(metrics)
    if len(runs) > 1:
        summary = {**over_runs(results), "models": [str(r) for r in runs]}
        (out / "over_runs.json").write_text(json.dumps(summary, indent=1))
        print("\n".join(over_runs_lines(summary)))
        print(f"over the runs: {out / 'over_runs.json'}")
    return 0


# `wav2pix prepare`: how pairs are cut (PairConfig) ...
PAIR_OPTIONS = (
    option("--image-size", "image_size", "stored crop side", type=int, choices=IMAGE_SIZES),
    option("--frames-per-second", "frames_per_second", "faces a second", type=float),
    option("--factor", "factor", "1 s windows per face", type=int),
    option(
        "--context-seconds",
        "context_seconds",
        "windows lie within this distance of their frame",
        type=float,
    ),
    option("--crop-scale", "crop_scale", "crop side / face box side", type=float),
    option("--detector", "detector", "dlib detector", choices=DETECTORS),
    option("--min-rms", "min_rms", "silence threshold (RMS)", type=float),
    option("--seed", "seed", "seed of the window draws", type=int),
)

# ... and how they are stored (PairBuildConfig)
PAIR_BUILD_OPTIONS = (
    option("--workers", "workers", "worker processes", type=int),
    option("--clips-per-shard", "clips_per_shard", "clips per shard", type=int),
)

# `wav2pix train` (Wav2PixConfig)
TRAIN_OPTIONS = (
    option(
        "--preset",
        "preset",
        "paper: the authors' sizes, batch 64; small: a quarter of the channels, batch 16",
        choices=["small", "paper"],
    ),
    option("--image-size", "image_size", "face side", type=int, choices=IMAGE_SIZES),
    option(
        ("--batch-size", "--batchsize"),
        "batch_size",
        "pairs per step (default: the preset's)",
        type=int,
    ),
    option("--epochs", "epochs", "passes over the training pairs", type=float),
    option("--steps", "steps", "training steps (overrides --epochs)", type=int),
    option("--checkpoint-every", "checkpoint_every", "steps between checkpoints", type=int),
    option("--lr-d", "lr_d", "discriminator learning rate", type=float),
    option("--lr-g", "lr_g", "generator learning rate", type=float),
    option(
        "--lr-encoder",
        "lr_encoder",
        "speech encoder and speaker classifier learning rate (default: --lr-g, the paper)",
        type=float,
    ),
    option(
        "--speech-encoder",
        "speech_encoder",
        "segan (the authors' encoder, trained) or ge2e (the frozen pretrained GE2E speaker "
        "encoder + a trained Dense to the embedding; not in the paper)",
    ),
    option(
        "--embedding-gain",
        "embedding_gain",
        "constant the embedding is multiplied by at the generator's input (1: the paper; the "
        "CPU demo uses 100, see docs/wav2pix.md)",
        type=float,
    ),
    option(
        "--balanced",
        "balanced",
        "draw identities uniformly, then a pair (the paper: shuffled passes over the pairs)",
        action="store_true",
    ),
    option(
        ("--num_gpu", "--num-gpu"),
        "num_gpu",
        "data-parallel devices (DataParallel on JAX, MirroredStrategy on TF)",
        type=int,
    ),
    option("--seed", "seed", "random seed", type=int),
)


def add_pair_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `wav2pix prepare`: SourceConfig, PairConfig and PairBuildConfig fields."""
    p.add_argument("path", help="folder, manifest CSV, VoxCeleb root, AVSpeech or channel CSV")
    p.add_argument("-o", "--output", required=True, help="pair dataset folder (rerun: resume)")
    add_source_arguments(p)
    p.set_defaults(split_mode=SPLIT_MODE)  # the Wav2Pix protocol; cuts keep 1 s windows
    add_options(p, PairBuildConfig, PAIR_BUILD_OPTIONS)
    add_options(p, PairConfig, PAIR_OPTIONS)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `wav2pix train`: --data, -o and the fields of Wav2PixConfig."""
    p.add_argument("--data", required=True, help="pair dataset from `wav2pix prepare`")
    p.add_argument("-o", "--output", required=True, help="run folder (rerun: resume exactly)")
    add_options(p, Wav2PixConfig, TRAIN_OPTIONS)


def register(sub) -> None:
    """Add `wav2pix` and its subcommands to the `speech2face` parser."""
    top = sub.add_parser(
        "wav2pix",
        help="Wav2Pix (Duarte et al., ICASSP 2019): a face GAN conditioned on raw speech",
        description="Wav2Pix: pairs of 1 s of speech and a face, a SEGAN speech encoder, an "
        "LSGAN generator and discriminator (64 or 128 px) and a speaker classifier.",
    )
    stages = top.add_subparsers(dest="wav2pix_command", metavar="STAGE")
    p = stages.add_parser(
        "prepare",
        help="cut clips into (1 s of speech, face) pairs in resumable HDF5 shards",
        description="Faces a few times a second (square dlib crops, no alignment) with "
        "random 1 s windows of the speech within 4 s of each; seen-identity split by time.",
    )
    add_pair_arguments(p)
    p.set_defaults(func=_cmd_prepare)
    p = stages.add_parser(
        "train",
        help="train the GAN (one D step, one G step per batch); rerun to resume exactly",
        description="LSGAN with feature matching, L1 and speaker cross-entropy; Adam 4e-4 (D) "
        "and 1e-4 (G). Writes checkpoints, history.csv, TensorBoard logs, a face grid per "
        "epoch and the exported models with run.json.",
    )
    add_train_arguments(p)
    p.set_defaults(func=_cmd_train)
    p = stages.add_parser(
        "predict",
        help="faces from speech recordings (1 s windows)",
        description="Any audio or video file: one face from the average embedding of its 1 s "
        "windows, or one face per window (--per-window). Faces are named as `speech2face "
        "predict` names them (the file stem, with its parent folder added when stems "
        "collide), written atomically, and OUTPUT/predictions.csv lists every recording with "
        "its face and notes (a silent one gets a warning).",
    )
    p.add_argument("speech", nargs="+", metavar="SPEECH", help="audio or video files")
    p.add_argument("-o", "--output", required=True, help="folder for the PNG faces")
    p.add_argument("--model", required=True, help="run folder of `wav2pix train`")
    p.add_argument("--per-window", action="store_true", help="one face per 1 s window")
    p.add_argument("--stochastic", action="store_true", help="dropout on (the authors' way)")
    p.add_argument("--save-embeddings", action="store_true", help="also write .npy embeddings")
    p.set_defaults(func=_cmd_predict)
    p = stages.add_parser(
        "evaluate",
        help="identity accuracy, landmark-detection ratio and FID beside chance and real faces",
        description="Generates faces from seen (training) and unseen (held-out) speech and "
        "writes metrics.json, faces.png and index.html.",
    )
    p.add_argument("--data", required=True, help="pair dataset folder")
    p.add_argument(
        "--model",
        required=True,
        nargs="+",
        metavar="RUN",
        help="run folder; several (e.g. seeds of one recipe): a report each in "
        "OUTPUT/run-<i>-<name> and mean +- std over them in OUTPUT/over_runs.json",
    )
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.add_argument("--split", help="held-out split (default test_seen, else test)")
    p.add_argument(
        "--max-pairs",
        type=int,
        default=MAX_PAIRS,
        help=f"pairs per split, 0: all (default: {MAX_PAIRS})",
    )
    p.add_argument(
        "--stochastic", action="store_true", help="generator dropout on (the authors' way)"
    )
    p.add_argument(
        "--inception-weights",
        help="Inception-v3 no-top Keras weights (.h5) for the usual FID; not downloaded",
    )
    p.add_argument(
        "--speech2face-report",
        metavar="DIR",
        help="a `speech2face evaluate` report folder: its recall@1 and gender figures on the "
        "same protocol and test identities stand beside Wav2Pix's in the report",
    )
    p.set_defaults(func=_cmd_evaluate)
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])
