"""Speech2Face's data commands: `spectrogram`, `prepare`, `prepare-faces`, `convert-dataset`.

Options are tables of config fields (:mod:`speech2face.cli.options`): SourceConfig,
PrepareConfig and SegmentConfig for `prepare`, FaceSourceConfig for `prepare-faces`.
"""

from __future__ import annotations

import argparse

from speech2face import audio
from speech2face.cli.options import add_options, config_options, option
from speech2face.cli.sources import add_source_arguments
from speech2face.dataset.engines import ENGINES
from speech2face.dataset.shards import AUDIO_CODECS, FACE_CODECS, FAILURES, MANIFEST
from speech2face.dataset.sources import SourceConfig
from speech2face.faces.detect import DETECTORS
from speech2face.speech2face.data.build import PrepareConfig
from speech2face.speech2face.data.segments import SegmentConfig

# `prepare`: how a dataset is built (PrepareConfig) ...
BUILD_OPTIONS = (
    option(
        "--face-encoder",
        "face_encoder",
        "face feature: dlib 128-D (offline) or VGG-Face fc7 4096-D",
        choices=["dlib", "vggface"],
    ),
    option(
        "--vggface-weights",
        "vggface_weights",
        "path of rcmalli_vggface_tf_vgg16.h5 (see weights/README.md)",
    ),
    option(
        "--workers",
        "workers",
        "worker processes (--engine ray without --address: CPUs of the local Ray)",
        type=int,
    ),
    option(
        "--engine",
        "engine",
        "where the clip groups run: local (process pool) or ray (Ray tasks on a cluster; "
        "pip install 'speech2face[cluster]')",
        choices=ENGINES,
    ),
    option(
        "--address",
        "address",
        "--engine ray: the Ray cluster, e.g. 10.0.0.1:6379 or auto (default $RAY_ADDRESS, "
        "else a local Ray)",
    ),
    option(
        "--face-codec",
        "face_codec",
        "how face crops are stored: jpeg (quality 95, ~12 KB) or png (lossless, ~55 KB)",
        choices=FACE_CODECS,
    ),
    option(
        "--audio-codec",
        "audio_codec",
        "how audio is stored, losslessly: blosc (numcodecs delta + zstd, fastest to decode) "
        "or flac",
        choices=AUDIO_CODECS,
    ),
    option("--clips-per-shard", "clips_per_shard", "clips per shard", type=int),
)

# ... and how a clip is cut into segments (SegmentConfig)
SEGMENT_OPTIONS = (
    option("--detector", "detector", "dlib detector", choices=DETECTORS),
    option(
        "--frames-per-segment",
        "frames_per_segment",
        "frames searched for the face in each segment",
        type=int,
    ),
    option(
        "--average-features",
        "average_features",
        "average face features over those frames (the paper used one)",
        action="store_true",
    ),
    option(
        "--hop-seconds",
        "hop_seconds",
        f"hop between {audio.CLIP_SECONDS} s windows of long clips "
        f"(default {audio.CLIP_SECONDS}: no overlap)",
        type=float,
    ),
    option("--min-rms", "min_rms", "silence threshold (RMS)", type=float),
)

# `prepare-faces` (FaceSourceConfig)
FACE_SOURCE_OPTIONS = (
    option("--face-encoder", "face_encoder", "face feature", choices=["dlib", "vggface"]),
    option("--vggface-weights", "vggface_weights", "VGG-Face weights file"),
    option(
        "--min-age",
        "min_age",
        "skip faces labelled younger than this (years; unlabelled faces are kept)",
        type=float,
    ),
    option("--shard-size", "shard_size", "items per shard", type=int),
    option("--frames-per-video", "frames_per_video", "faces kept per video", type=int),
    option("--frame-candidates", "frame_candidates", "frames read per kept face", type=int),
    option("--workers", "workers", "worker processes", type=int),
    option("--engine", "engine", "local or ray", choices=ENGINES),
    option("--address", "address", "Ray cluster address"),
)

# `convert-dataset` (PrepareConfig's codecs)
CODEC_OPTIONS = (
    option(
        "--face-codec", "face_codec", "jpeg (quality 95) or png (lossless)", choices=FACE_CODECS
    ),
    option("--audio-codec", "audio_codec", "blosc or flac", choices=AUDIO_CODECS),
)


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


def _cmd_convert(args) -> int:
    from speech2face.speech2face.data.build import convert, summary

    manifest = convert(args.dataset, args.output, args.face_codec, audio_codec=args.audio_codec)
    print(summary(manifest))
    print(f"dataset: {args.output}/{MANIFEST} (format {manifest['format']})")
    return 0


def add_prepare_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `prepare` but PATH: the fields of SourceConfig, PrepareConfig and
    SegmentConfig."""
    p.add_argument("-o", "--output", required=True, help="dataset folder to write (or resume)")
    add_source_arguments(p)
    add_options(p, PrepareConfig, BUILD_OPTIONS[:2])  # the face feature first in --help
    add_options(p, SegmentConfig, SEGMENT_OPTIONS)
    add_options(p, PrepareConfig, BUILD_OPTIONS[2:])


def add_prepare_faces_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `prepare-faces`: SOURCE, -o and the fields of FaceSourceConfig."""
    from speech2face.speech2face.data.face_cache import FaceSourceConfig

    p.add_argument(
        "source",
        help="labelled-photo CSV (file, age, gender, race, split: UTKFace's utkface.csv), "
        "manifest CSV (face_photo/face_video rows) or folder <identity>/<file>",
    )
    p.add_argument("-o", "--output", required=True, help="face-cache folder (rerun to resume)")
    add_options(p, FaceSourceConfig, FACE_SOURCE_OPTIONS)


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
    add_options(p, PrepareConfig, CODEC_OPTIONS)
    p.set_defaults(func=_cmd_convert)
