"""CLI stages that read media: `spectrogram` and `prepare`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_spectrogram(args) -> int:
    from speech2face import audio
    from speech2face.evaluation.report import plot_spectrogram

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
    from speech2face.dataset.sources import avspeech, folder, voxceleb

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
    from speech2face.dataset.build import PrepareConfig, prepare, summary
    from speech2face.dataset.segments import SegmentConfig

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


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
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
