"""CLI stages that read media: `spectrogram` and `prepare`."""

from __future__ import annotations

import argparse

from speech2face import audio
from speech2face.cli.options import config_option, config_options
from speech2face.dataset.engines import ENGINES
from speech2face.dataset.shards import AUDIO_CODECS, FACE_CODECS, FAILURES, MANIFEST
from speech2face.dataset.sources import SOURCE_TYPES, SourceConfig
from speech2face.dataset.splits import SPLIT_MODES
from speech2face.faces.detect import DETECTORS
from speech2face.speech2face.data.build import PrepareConfig
from speech2face.speech2face.data.segments import SegmentConfig


def _cmd_spectrogram(args) -> int:
    from speech2face.speech2face.evaluation.report import plot_spectrogram

    wave = audio.load_audio(args.audio, start=args.start, end=args.end)
    if not args.full:
        wave = audio.loop_pad(wave)
    spec = audio.spectrogram(wave)
    title = f"{args.audio}  ({spec.shape[0]} frames x {spec.shape[1]} bins)"
    out = plot_spectrogram(spec, args.output, title=title)
    print(f"wrote {out}  spectrogram {spec.shape} from {wave.size / audio.SAMPLE_RATE:.2f} s")
    return 0


def _cmd_prepare(args) -> int:
    from speech2face import api

    options = config_options(args, SourceConfig, PrepareConfig, SegmentConfig)
    api.prepare(args.path, args.output, **options)
    print(f"dataset: {args.output}/{MANIFEST}  failures: {args.output}/{FAILURES}")
    return 0


def _cmd_prepare_faces(args) -> int:
    from speech2face import api
    from speech2face.speech2face.data.face_cache import FaceSourceConfig

    api.prepare_faces(args.source, args.output, **config_options(args, FaceSourceConfig))
    print(f"face cache: {args.output} (use it as `train-decoder --faces {args.output}`)")
    return 0


def add_prepare_faces_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `prepare-faces`: the fields of FaceSourceConfig."""
    from speech2face.speech2face.data.face_cache import FaceSourceConfig as config

    p.add_argument(
        "source",
        help="labelled-photo CSV (file, age, gender, race, split: UTKFace's utkface.csv), "
        "manifest CSV (face_photo/face_video rows) or folder <identity>/<file>",
    )
    p.add_argument("-o", "--output", required=True, help="face-cache folder (rerun to resume)")
    config_option(
        p, "--face-encoder", config, "face_encoder", "face feature", choices=["dlib", "vggface"]
    )
    config_option(p, "--vggface-weights", config, "vggface_weights", "VGG-Face weights file")
    config_option(
        p,
        "--min-age",
        config,
        "min_age",
        "skip faces labelled younger than this (years; unlabelled faces are kept)",
        type=float,
    )
    config_option(p, "--shard-size", config, "shard_size", "items per shard", type=int)
    config_option(
        p, "--frames-per-video", config, "frames_per_video", "faces kept per video", type=int
    )
    config_option(
        p, "--frame-candidates", config, "frame_candidates", "frames read per kept face", type=int
    )
    config_option(p, "--workers", config, "workers", "worker processes", type=int)
    config_option(p, "--engine", config, "engine", "local or ray", choices=ENGINES)
    config_option(p, "--address", config, "address", "Ray cluster address")


def _cmd_convert(args) -> int:
    from speech2face.speech2face.data.build import convert, summary

    manifest = convert(args.dataset, args.output, args.face_codec, audio_codec=args.audio_codec)
    print(summary(manifest))
    print(f"dataset: {args.output}/{MANIFEST} (format {manifest['format']})")
    return 0


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Options of how PATH is read and split (the fields of SourceConfig; shared with
    `wav2pix prepare`)."""
    source = SourceConfig
    config_option(
        p,
        "--source",
        source,
        "source_type",
        "how to read PATH (default: folder, or manifest for a .csv); youtube: a CSV of "
        "Channel-URL, Name, Gender",
        choices=SOURCE_TYPES,
    )
    config_option(p, "--split", source, "split", "keep only these splits, e.g. 'train,test'")
    config_option(
        p,
        "--test-fraction",
        source,
        "test_fraction",
        "share of identities in the test split when the source has none",
        type=float,
    )
    config_option(
        p,
        "--split-mode",
        source,
        "split_mode",
        "evaluation protocol of the splits: identity (unseen identities, Speech2Face), seen "
        "(every identity's clips cut by time into train and test_seen: seen identities, unseen "
        "speech, Wav2Pix) or both (test identities unseen, train identities' speech held out)",
        choices=SPLIT_MODES,
    )
    config_option(
        p,
        "--holdout-fraction",
        source,
        "holdout_fraction",
        "seen/both: share of each clip's speech held out as test_seen (cut on a 6 s window "
        "when the clip is long enough)",
        type=float,
    )
    config_option(
        p,
        ["--from_id", "--from-id"],
        source,
        "from_id",
        "AVSpeech: first CSV row (0-based)",
        type=int,
    )
    config_option(
        p, ["--to_id", "--to-id"], source, "to_id", "AVSpeech: row after the last one", type=int
    )
    config_option(
        p,
        "--download-dir",
        source,
        "download_dir",
        "AVSpeech, YouTube: where videos are downloaded (default OUTPUT/downloads)",
    )
    config_option(p, "--url-template", source, "url_template", "AVSpeech: URL of a video id")
    config_option(
        p, "--max-videos", source, "max_videos", "YouTube channels: videos per channel", type=int
    )
    config_option(
        p,
        "--max-seconds",
        source,
        "max_seconds",
        "YouTube channels: keep only the first seconds of each video",
        type=float,
    )


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `prepare` (shared with preprocess/data_download.py): the fields of
    SourceConfig, PrepareConfig and SegmentConfig."""
    p.add_argument("-o", "--output", required=True, help="dataset folder to write (or resume)")
    add_source_arguments(p)
    build, segment = PrepareConfig, SegmentConfig
    config_option(
        p,
        "--face-encoder",
        build,
        "face_encoder",
        "face feature: dlib 128-D (offline) or VGG-Face fc7 4096-D",
        choices=["dlib", "vggface"],
    )
    config_option(
        p,
        "--vggface-weights",
        build,
        "vggface_weights",
        "path of rcmalli_vggface_tf_vgg16.h5 (see weights/README.md)",
    )
    config_option(p, "--detector", segment, "detector", "dlib detector", choices=DETECTORS)
    config_option(
        p,
        "--frames-per-segment",
        segment,
        "frames_per_segment",
        "frames searched for the face in each segment",
        type=int,
    )
    config_option(
        p,
        "--average-features",
        segment,
        "average_features",
        "average face features over those frames (the paper used one)",
        action="store_true",
    )
    config_option(
        p,
        "--hop-seconds",
        segment,
        "hop_seconds",
        f"hop between {audio.CLIP_SECONDS} s "
        f"windows of long clips (default {audio.CLIP_SECONDS}: no overlap)",
        type=float,
    )
    config_option(p, "--min-rms", segment, "min_rms", "silence threshold (RMS)", type=float)
    config_option(
        p,
        "--workers",
        build,
        "workers",
        "worker processes (--engine ray without --address: CPUs of the local Ray)",
        type=int,
    )
    config_option(
        p,
        "--engine",
        build,
        "engine",
        "where the clip groups run: local (process pool) or ray (Ray tasks on a cluster; "
        "pip install 'speech2face[cluster]')",
        choices=ENGINES,
    )
    config_option(
        p,
        "--address",
        build,
        "address",
        "--engine ray: the Ray cluster, e.g. 10.0.0.1:6379 or auto (default $RAY_ADDRESS, "
        "else a local Ray)",
    )
    config_option(
        p,
        "--face-codec",
        build,
        "face_codec",
        "how face crops are stored: jpeg (quality 95, ~12 KB) or png (lossless, ~55 KB)",
        choices=FACE_CODECS,
    )
    config_option(
        p,
        "--audio-codec",
        build,
        "audio_codec",
        "how audio is stored, losslessly: blosc (numcodecs delta + zstd, fastest to decode) "
        "or flac",
        choices=AUDIO_CODECS,
    )
    config_option(p, "--clips-per-shard", build, "clips_per_shard", "clips per shard", type=int)


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

    p = sub.add_parser(
        "prepare-faces",
        help="detect, align and describe the faces of photos or face videos into a cache",
        description="Detect, align, landmark, describe and score every face of a face-only "
        "source once (UTKFace, a manifest's face photos and videos, a folder), in resumable "
        "HDF5 shards with their sha256; faces labelled younger than --min-age are skipped. "
        "`train-decoder --faces FOLDER` reads the cache. Rerun the same command to resume.",
    )
    add_prepare_faces_arguments(p)
    p.set_defaults(func=_cmd_prepare_faces)

    p = sub.add_parser(
        "convert-dataset",
        help="rewrite a dataset in the current shard format (compressed audio, JPEG/PNG faces)",
        description="Copy a dataset from `prepare` into a new folder in the current shard "
        "format (2: losslessly compressed audio, JPEG or PNG face crops; about 120 KB a "
        "segment instead of 300 KB) with the same segments. Datasets of format 1 are read "
        "as they are; this only saves space. Rerun to resume.",
    )
    p.add_argument("dataset", help="dataset folder to read")
    p.add_argument("-o", "--output", required=True, help="new dataset folder")
    config_option(
        p,
        "--face-codec",
        PrepareConfig,
        "face_codec",
        "jpeg (quality 95) or png (lossless)",
        choices=FACE_CODECS,
    )
    config_option(
        p, "--audio-codec", PrepareConfig, "audio_codec", "blosc or flac", choices=AUDIO_CODECS
    )
    p.set_defaults(func=_cmd_convert)
