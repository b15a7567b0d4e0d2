"""Speech2Face's face decoder command: `train-decoder` (Cole et al.'s decoder).

Options are a table of DecoderConfig fields (:mod:`speech2face.cli.options`).
"""

from __future__ import annotations

import argparse

from speech2face.cli.options import add_options, config_options, option
from speech2face.speech2face.cli.training import COMMON_OPTIONS
from speech2face.speech2face.training.config import DecoderConfig

# the schedule and the losses ...
SCHEDULE_OPTIONS = (
    option(
        "--preset",
        "preset",
        "small: 64 px, small128 and medium128 (twice the channels): 128 px, paper: 224 px",
        choices=["small", "small128", "medium128", "paper"],
    ),
    option("--epochs", "epochs", "passes over the faces", type=int),
    option("--batch-size", "batch_size", "faces per step", type=int),
    option("--lr", "learning_rate", "Adam learning rate", type=float, metavar="LR"),
    option(
        "--schedule",
        "schedule",
        "learning rate: constant, or cosine decay over the run",
        choices=["constant", "cosine"],
    ),
    option(
        "--edge-weight",
        "edge_weight",
        "weight of the L1 of image gradients beside the texture L1 (sharper faces)",
        type=float,
    ),
    option(
        "--detail-epochs",
        "detail_epochs",
        "epochs after --epochs that also match the local Laplacian energy of the real faces"
        " (the detail an L1 averages away)",
        type=int,
    ),
    option("--detail-weight", "detail_weight", "weight of that detail loss", type=float),
    option(
        "--detail-lr",
        "detail_learning_rate",
        "Adam learning rate of the detail epochs (constant)",
        type=float,
        metavar="LR",
    ),
)

# ... and which faces it learns from
FACE_OPTIONS = (
    option(
        "--min-age",
        "min_age",
        "face sources: skip faces labelled younger than this (years; unlabelled kept)",
        type=float,
    ),
    option(
        "--workers",
        "workers",
        "face sources: worker processes that detect and describe their faces",
        type=int,
    ),
    option(
        "--grid-every",
        "grid_every",
        "epochs between picture grids (the first and the last epoch always get one)",
        type=int,
    ),
    option("--frames-per-video", "frames_per_video", "faces kept per face video", type=int),
    option(
        "--frame-candidates",
        "frame_candidates",
        "frames read per kept face of a video; the most frontal and neutral are kept",
        type=int,
    ),
    option(
        "--max-face-score",
        "max_face_score",
        "drop training faces less frontal and neutral than this (each identity keeps its "
        "best face); see speech2face.faces.canonical",
        type=float,
    ),
    option(
        "--neutral-landmarks",
        "neutral_landmarks",
        "landmark targets in the identity's neutral geometry (mouths closed, averaged); "
        "--no-neutral-landmarks: each face's own landmarks",
        action=argparse.BooleanOptionalAction,
    ),
)


def _cmd_train_decoder(args) -> int:
    from speech2face import api
    from speech2face.speech2face.training.decoder import DECODER_FILE

    api.train_decoder(
        args.data, args.output, faces=args.faces, **config_options(args, DecoderConfig)
    )
    print(f"decoder: {args.output}/{DECODER_FILE}  pictures: {args.output}/grids/")
    return 0


def add_decoder_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `train-decoder`: --data, -o, --faces and the fields of DecoderConfig."""
    p.add_argument("--data", required=True, help="dataset folder from `speech2face prepare`")
    p.add_argument("-o", "--output", required=True, help="run folder")
    p.add_argument(
        "--faces",
        action="append",
        default=[],
        help="face-only source: a face cache of `prepare-faces`, a labelled-photo CSV "
        "(UTKFace's utkface.csv), a manifest CSV (face_photo/face_video rows) or a folder "
        "<identity>/<file>; a raw source is cached once under OUTPUT/face_cache; repeatable",
    )
    add_options(p, DecoderConfig, SCHEDULE_OPTIONS + FACE_OPTIONS + COMMON_OPTIONS)


def register(sub) -> None:
    """Add this module's subcommand to the `speech2face` parser."""
    p = sub.add_parser(
        "train-decoder",
        help="train the face decoder (Cole et al.): face feature -> face image",
        description="Train the face decoder on the faces of a dataset (train split) and of "
        "face-only sources (photos / silent face videos). Writes OUTPUT/decoder.keras, mean "
        "landmarks, TensorBoard logs and a PNG grid per epoch; rerun to resume.",
    )
    add_decoder_arguments(p)
    p.set_defaults(func=_cmd_train_decoder)
