"""The `speech2face` command line: one subcommand per stage of the data flow.

Heavy libraries (Keras, TensorFlow, dlib) are imported inside the subcommands, so
``speech2face --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from speech2face import __version__


def _cmd_spectrogram(args) -> int:
    from speech2face import audio
    from speech2face.report import plot_spectrogram

    wave = audio.load_audio(args.audio, start=args.start, end=args.end)
    if not args.full:
        wave = audio.loop_pad(wave)
    spec = audio.spectrogram(wave)
    title = f"{args.audio}  ({spec.shape[0]} frames x {spec.shape[1]} bins)"
    out = plot_spectrogram(spec, args.output, title=title)
    print(f"wrote {out}  spectrogram {spec.shape} from {wave.size / audio.SAMPLE_RATE:.2f} s")
    return 0


def _clips_for(args):
    """Clips and source failures for `prepare` from PATH and --source."""
    from speech2face.sources import avspeech, folder, voxceleb

    path = Path(args.path)
    source = args.source or ("manifest" if path.suffix.lower() == ".csv" else "folder")
    failures = []
    if source == "avspeech":
        download = Path(args.download_dir or Path(args.output) / "downloads")
        clips, failures = avspeech.avspeech_clips(
            path, download, args.from_id, args.to_id, args.url_template, args.test_fraction
        )
    elif source == "voxceleb":
        clips = voxceleb.voxceleb_clips(path, args.test_fraction)
    elif source == "manifest":
        clips = folder.manifest_clips(path)
    else:
        clips = folder.folder_clips(path, args.test_fraction)
    if args.split:
        keep = set(args.split.split(","))
        clips = [c for c in clips if c.split in keep]
    return clips, failures


def _cmd_prepare(args) -> int:
    from speech2face.prepare import PrepareConfig, prepare, summary
    from speech2face.segments import SegmentConfig

    clips, failures = _clips_for(args)
    config = PrepareConfig(
        face_encoder=args.face_encoder,
        vggface_weights=args.vggface_weights,
        clips_per_shard=args.clips_per_shard,
        workers=args.workers,
        segment=SegmentConfig(
            hop_seconds=args.hop_seconds,
            min_rms=args.min_rms,
            frames_per_segment=args.frames_per_segment,
            detector=args.detector,
            average_features=args.average_features,
        ),
    )
    manifest = prepare(clips, args.output, config, failures)
    print(summary(manifest, len(clips)))
    print(f"dataset: {args.output}/dataset.json  failures: {args.output}/failures.csv")
    return 0


def _cmd_train_decoder(args) -> int:
    import json

    from speech2face import faces
    from speech2face.data import Dataset
    from speech2face.evaluation.decoder_quality import decoder_quality
    from speech2face.training.decoder import DecoderConfig, gather_faces, train_decoder

    config = DecoderConfig(
        preset=args.preset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        vggface_weights=args.vggface_weights,
    )
    decoder = train_decoder(args.data, args.output, args.faces, config)
    dataset = Dataset(args.data)
    encoder = faces.get_encoder(dataset.face_encoder, args.vggface_weights)
    test = gather_faces(dataset, args.faces, "test", encoder)
    metrics = decoder_quality(decoder, test, encoder)
    (Path(args.output) / "decoder_metrics.json").write_text(json.dumps(metrics, indent=1))
    print(
        f"test faces: {metrics['faces']} of {metrics['identities']} identities; "
        f"landmark error {metrics['landmark_error_px']:.2f} px (224 px crop); "
        f"re-identification top-1 {metrics['reid_top1']:.3f} "
        f"(chance {metrics['reid_chance']:.3f}, real faces {metrics['reid_top1_true_faces']:.3f})"
    )
    print(f"decoder: {args.output}/decoder.keras  pictures: {args.output}/grids/")
    return 0


def _cmd_train(args) -> int:
    from speech2face.training.voice import TrainConfig, train_voice_encoder

    config = TrainConfig(
        preset=args.preset,
        batch_size=args.batch_size,
        epochs=args.epochs,
        steps=args.steps,
        learning_rate=args.lr,
        checkpoint_every=args.checkpoint_every,
        num_gpu=args.num_gpu,
        seed=args.seed,
        vggface_weights=args.vggface_weights,
    )
    train_voice_encoder(args.data, args.decoder, args.output, config)
    print(f"bundle: {args.output}  (use it with `speech2face predict --model {args.output}`)")
    return 0


def _cmd_predict(args) -> int:
    import numpy as np
    from PIL import Image

    from speech2face.errors import UserError
    from speech2face.inference import Speech2Face

    model = Speech2Face.load(args.model)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for voice in args.voices:
        try:
            image, feature = model.predict(voice)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        stem = Path(voice).stem
        Image.fromarray(image).save(out / f"{stem}.png")
        if args.save_features:
            np.save(out / f"{stem}.npy", feature)
        print(f"{voice} -> {out / (stem + '.png')}")
    print(f"{len(args.voices) - failed} of {len(args.voices)} voices -> faces in {out}")
    return 1 if failed else 0


def _cmd_evaluate(args) -> int:
    from speech2face.evaluation.evaluate import evaluate
    from speech2face.evaluation.summary import summary_lines

    metrics = evaluate(args.data, args.model, args.output, args.split)
    print("\n".join(summary_lines(metrics)))
    print(f"report: {Path(args.output) / 'index.html'}")
    return 0


def _cmd_demo(args) -> int:
    from speech2face.demo import DemoConfig, run_demo

    config = DemoConfig.quick() if args.quick else DemoConfig()
    config.workers = args.workers
    run_demo(args.output, args.data, config)
    return 0


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `train` (shared with base.py)."""
    p.add_argument("--data", required=True, help="dataset folder from `speech2face prepare`")
    p.add_argument("--decoder", required=True, help="run folder of `speech2face train-decoder`")
    p.add_argument("-o", "--output", required=True, help="bundle folder to write (or resume)")
    p.add_argument(
        "--preset",
        choices=["small", "paper"],
        default="small",
        help="voice encoder size: paper (~160 M parameters) or small (CPU)",
    )
    p.add_argument("--batch-size", "--batchsize", type=int, default=8, dest="batch_size")
    p.add_argument("--epochs", type=float, default=20.0, help="passes over the training split")
    p.add_argument("--steps", type=int, default=None, help="training steps (overrides --epochs)")
    p.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    p.add_argument(
        "--num_gpu",
        "--num-gpu",
        type=int,
        default=0,
        dest="num_gpu",
        help="data-parallel devices (MirroredStrategy on TF, DataParallel on JAX)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vggface-weights", help="rcmalli_vggface_tf_vgg16.h5 (vggface datasets)")


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `prepare` (shared with preprocess/data_download.py)."""
    p.add_argument("-o", "--output", required=True, help="dataset folder to write (or resume)")
    p.add_argument(
        "--source",
        choices=["folder", "manifest", "voxceleb", "avspeech"],
        help="how to read PATH (default: folder, or manifest for a .csv)",
    )
    p.add_argument("--split", help="keep only these splits, e.g. 'train' or 'train,test'")
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="share of identities in the test split when the source has none",
    )
    p.add_argument(
        "--face-encoder",
        choices=["dlib", "vggface"],
        default="dlib",
        help="face feature: dlib 128-D (offline) or VGG-Face fc7 4096-D",
    )
    p.add_argument("--vggface-weights", help="path of rcmalli_vggface_tf_vgg16.h5")
    p.add_argument("--detector", choices=["hog", "cnn"], default="hog", help="dlib detector")
    p.add_argument(
        "--frames-per-segment",
        type=int,
        default=3,
        help="frames searched for the face in each segment",
    )
    p.add_argument(
        "--average-features",
        action="store_true",
        help="average face features over those frames (the paper used one)",
    )
    p.add_argument(
        "--hop-seconds",
        type=float,
        default=None,
        help="hop between 6 s windows of long clips (default 6: no overlap)",
    )
    p.add_argument("--min-rms", type=float, default=0.003, help="silence threshold (RMS)")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--clips-per-shard", type=int, default=4, help="clips per HDF5 shard")
    p.add_argument(
        "--from_id",
        "--from-id",
        type=int,
        default=0,
        dest="from_id",
        help="AVSpeech: first CSV row (0-based)",
    )
    p.add_argument(
        "--to_id",
        "--to-id",
        type=int,
        default=None,
        dest="to_id",
        help="AVSpeech: row after the last one",
    )
    p.add_argument(
        "--download-dir", help="AVSpeech: where segments are downloaded (default OUTPUT/downloads)"
    )
    p.add_argument(
        "--url-template",
        default="https://www.youtube.com/watch?v={youtube_id}",
        help="AVSpeech: URL of a video id",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand (used by `main` and by the wrappers)."""
    parser = argparse.ArgumentParser(
        prog="speech2face",
        description="Speech2Face (Oh et al., CVPR 2019): predict a face from a voice.",
    )
    parser.add_argument("--version", action="version", version=f"speech2face {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "spectrogram",
        help="save a picture of the Speech2Face spectrogram of an audio or video file",
        description="Load any audio/video file (16 kHz mono), loop-pad or cut it to 6 s and "
        "save the magnitude of its compressed (re, im) spectrogram as a picture.",
    )
    p.add_argument("audio", help="audio or video file (wav, flac, mp3, mp4, mpg, m4a, webm)")
    p.add_argument("-o", "--output", default="spectrogram.png", help="image to write")
    p.add_argument("--start", type=float, default=None, help="start time in seconds")
    p.add_argument("--end", type=float, default=None, help="end time in seconds")
    p.add_argument("--full", action="store_true", help="whole file instead of one 6 s segment")
    p.set_defaults(func=_cmd_spectrogram)

    p = sub.add_parser(
        "prepare",
        help="build a dataset of 6 s segments with face targets from clips",
        description="Cut real clips into 6 s segments with aligned faces, 68 landmarks and "
        "face features, stored in resumable HDF5 shards. PATH is a folder "
        "ROOT/<identity>/<clip>.<ext>, a manifest CSV, a VoxCeleb root (--source voxceleb) "
        "or an AVSpeech CSV (--source avspeech). Rerun the same command to resume.",
    )
    p.add_argument("path", help="folder, manifest CSV, VoxCeleb root or AVSpeech CSV")
    add_prepare_arguments(p)
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser(
        "train-decoder",
        help="train the face decoder (Cole et al.): face feature -> face image",
        description="Train the face decoder on the faces of a dataset (train split) and of "
        "face-only sources (photos / silent face videos). Writes OUTPUT/decoder.keras, mean "
        "landmarks, TensorBoard logs and a PNG grid per epoch; rerun to resume.",
    )
    p.add_argument("--data", required=True, help="dataset folder from `speech2face prepare`")
    p.add_argument("-o", "--output", required=True, help="run folder")
    p.add_argument(
        "--faces",
        action="append",
        default=[],
        help="face-only source: manifest CSV (face_photo/face_video rows) or folder "
        "<identity>/<file>; repeatable",
    )
    p.add_argument(
        "--preset",
        choices=["small", "small128", "paper"],
        default="small",
        help="small: 64 px, small128: 128 px, paper: 224 px",
    )
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vggface-weights", help="rcmalli_vggface_tf_vgg16.h5 (vggface datasets)")
    p.set_defaults(func=_cmd_train_decoder)

    p = sub.add_parser(
        "train",
        help="train the voice encoder with the frozen face decoder (Speech2Face)",
        description="Train the Speech2Face voice encoder on a dataset's train split with the "
        "paper's loss and optimiser; writes a bundle (voice encoder, face decoder, mean "
        "landmarks, config) that predict/evaluate load. Rerun to resume exactly.",
    )
    add_train_arguments(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict a face picture from voice recordings",
        description="Any audio or video file of any length: shorter than 6 s is loop-padded, "
        "longer is cut into 6 s windows whose predicted features are averaged.",
    )
    p.add_argument("voices", nargs="+", metavar="VOICE", help="audio or video files")
    p.add_argument("-o", "--output", required=True, help="folder for the PNG faces")
    p.add_argument("--model", required=True, help="bundle folder from `speech2face train`")
    p.add_argument("--save-features", action="store_true", help="also write features as .npy")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "evaluate",
        help="retrieval, similarity, gender, craniofacial and landmark-detection metrics",
        description="Evaluate a bundle on one split of a dataset: recall@K (two galleries, "
        "chance rows), feature similarity, gender agreement beside the voice-pitch baseline, "
        "craniofacial correlations and the landmark-detection ratio. Writes metrics.json, "
        "faces.png, recall.png and index.html.",
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.add_argument("--split", default="test", help="split to evaluate (default test)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "demo",
        help="the whole pipeline on the real sample clips (about 10 minutes on a CPU)",
        description="prepare -> train-decoder -> train -> predict -> evaluate on the sample "
        "clips. Writes OUTPUT/dataset, OUTPUT/decoder, OUTPUT/bundle (a model for "
        "`predict --model`), OUTPUT/predictions and OUTPUT/report/index.html. The sample data "
        "is read from --data, $SPEECH2FACE_SAMPLES or ../shared/data, else downloaded from its "
        "public sources and checked by sha256. Rerun to resume.",
    )
    p.add_argument("-o", "--output", default="runs/demo", help="output folder")
    p.add_argument("--data", help="local copy of the sample data (folder with manifest.csv)")
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline")
    p.add_argument("--workers", type=int, default=2, help="prepare worker processes")
    p.set_defaults(func=_cmd_demo)

    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from speech2face.errors import UserError

    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"speech2face {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
