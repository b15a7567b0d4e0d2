"""CLI training stages: `train-decoder`, `pretrain` and `train`."""

from __future__ import annotations

import argparse

from speech2face.cli.options import config_option, config_options
from speech2face.speech2face.training.config import (
    RECIPES,
    VOICE_ENCODERS,
    DecoderConfig,
    PretrainConfig,
    TrainConfig,
)


def _cmd_train_decoder(args) -> int:
    from speech2face import api
    from speech2face.speech2face.training.decoder import DECODER_FILE

    api.train_decoder(
        args.data, args.output, faces=args.faces, **config_options(args, DecoderConfig)
    )
    print(f"decoder: {args.output}/{DECODER_FILE}  pictures: {args.output}/grids/")
    return 0


def _cmd_train(args) -> int:
    from speech2face import api

    api.train(args.data, args.decoder, args.output, **config_options(args, TrainConfig))
    print(f"bundle: {args.output}  (use it with `speech2face predict --model {args.output}`)")
    return 0


def _cmd_pretrain(args) -> int:
    from speech2face import api

    figures = api.pretrain(args.sources, args.output, **config_options(args, PretrainConfig))
    print(
        f"pretrained on {figures['windows']} windows of {figures['speakers']} speakers: "
        f"{args.output}  (use it with `speech2face train --init {args.output}`)"
    )
    return 0


def _add_common(p: argparse.ArgumentParser, config) -> None:
    """Options every training stage has: seed and the VGG-Face weights file."""
    config_option(p, "--seed", config, "seed", "random seed", type=int)
    config_option(
        p,
        "--vggface-weights",
        config,
        "vggface_weights",
        "rcmalli_vggface_tf_vgg16.h5 (vggface datasets; see weights/README.md)",
    )


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `train` (shared with base.py): the fields of TrainConfig."""
    p.add_argument("--data", required=True, help="dataset folder from `speech2face prepare`")
    p.add_argument("--decoder", required=True, help="run folder of `speech2face train-decoder`")
    p.add_argument("-o", "--output", required=True, help="bundle folder to write (or resume)")
    config = TrainConfig
    _add_voice_route(p, config)
    config_option(
        p,
        "--preset",
        config,
        "preset",
        "paper route: voice encoder size, paper (~160 M parameters) or small (CPU)",
        choices=["small", "paper"],
    )
    config_option(
        p, ["--batch-size", "--batchsize"], config, "batch_size", "segments per step", type=int
    )
    config_option(p, "--epochs", config, "epochs", "passes over the training split", type=float)
    config_option(p, "--steps", config, "steps", "training steps (overrides --epochs)", type=int)
    config_option(
        p, "--lr", config, "learning_rate", "initial learning rate", type=float, metavar="LR"
    )
    config_option(
        p, "--checkpoint-every", config, "checkpoint_every", "steps between checkpoints", type=int
    )
    config_option(
        p,
        "--recipe",
        config,
        "recipe",
        "loss and target scale: paper (the Speech2Face loss on raw features, tuned for "
        "VGG-Face), dlib (standardised targets, squared error + normalised distance), or "
        "auto (paper for vggface datasets, dlib for dlib ones)",
        choices=RECIPES,
    )
    config_option(
        p,
        "--cosine-weight",
        config,
        "cosine_weight",
        "dlib recipe: weight of the normalised distance",
        type=float,
    )
    config_option(
        p,
        "--init",
        config,
        "init",
        "start from the voice encoder of a `speech2face pretrain` run (same --preset)",
    )
    config_option(
        p,
        "--augment",
        config,
        "augment",
        "random circular time shift and gain of each 6 s segment",
        action=argparse.BooleanOptionalAction,
    )
    config_option(
        p,
        "--precise-bn",
        config,
        "precise_bn",
        "re-estimate BatchNorm statistics over the training split after training",
        action=argparse.BooleanOptionalAction,
    )
    config_option(
        p,
        "--calibrate-radius",
        config,
        "calibrate_radius",
        "dlib recipe: put every prediction at the typical distance of real faces from the mean "
        "face (a squared error alone shrinks unheard voices towards the mean face)",
        action=argparse.BooleanOptionalAction,
    )
    config_option(
        p,
        "--fit-segments",
        config,
        "fit_segments",
        "training segments on which recall@1 is logged every checkpoint",
        type=int,
    )
    config_option(
        p,
        ["--num_gpu", "--num-gpu"],
        config,
        "num_gpu",
        "data-parallel devices (MirroredStrategy on TF, DataParallel on JAX)",
        type=int,
    )
    config_option(
        p,
        "--hosts",
        config,
        "hosts",
        "several hosts (JAX): run the same command on every host with "
        "KERAS_DISTRIBUTION_JOB_ADDRESSES (coordinator host:port), "
        "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID set; the batch "
        "size is the global one, split between the hosts",
        action="store_true",
    )
    config_option(
        p,
        "--readers",
        config,
        "readers",
        "threads reading and decoding batches ahead of training",
        type=int,
    )
    _add_common(p, config)


def _add_voice_route(p: argparse.ArgumentParser, config) -> None:
    """`train --voice-encoder` and the options of the speaker-encoder route."""
    from speech2face.speech2face.training.speaker_head import BALANCE, HEADS

    config_option(
        p,
        "--voice-encoder",
        config,
        "voice_encoder",
        f"voice route: {' or '.join(VOICE_ENCODERS)} (a head on the pretrained GE2E speaker "
        "embedding, which generalises to unheard voices on small data), a speaker encoder "
        "registered with speech2face.voices.register, or a .keras model of waveform -> "
        "embedding; paper trains the Table 1 CNN from the waveform (VoxCeleb-scale data)",
        metavar="NAME",
    )
    config_option(
        p, "--speaker-weights", config, "speaker_weights", "weights file of the speaker encoder"
    )
    config_option(
        p,
        "--head",
        config,
        "head",
        "speaker route: gender_ridge (a gender classifier blends the genders' mean faces, a "
        "ridge map adds the offset), ridge (closed-form linear map) or mlp (one hidden layer)",
        choices=HEADS,
    )
    config_option(p, "--head-alpha", config, "head_alpha", "ridge head: L2 penalty", type=float)
    config_option(
        p,
        "--radius-scale",
        config,
        "radius_scale",
        "speaker route: predictions at this fraction of the typical distance of real faces "
        "from the (gender's) mean face",
        type=float,
    )
    config_option(p, "--head-hidden", config, "head_hidden", "mlp head: hidden units", type=int)
    config_option(p, "--head-epochs", config, "head_epochs", "mlp head: epochs", type=int)
    config_option(
        p,
        "--balance",
        config,
        "balance",
        "sample weights so that identities, genders or both count equally (auto: gender "
        "on the speaker route, none on the paper route)",
        choices=("auto", *BALANCE),
    )
    config_option(
        p,
        "--finetune-speaker-encoder",
        config,
        "finetune_speaker_encoder",
        "speaker route: after the head, train the speaker encoder too (--steps, --epochs)",
        action=argparse.BooleanOptionalAction,
    )
    config_option(
        p,
        "--finetune-lr",
        config,
        "finetune_learning_rate",
        "learning rate of the fine-tuning",
        type=float,
        metavar="LR",
    )


def add_decoder_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `train-decoder`: ``--faces`` and the fields of DecoderConfig."""
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
    config = DecoderConfig
    config_option(
        p,
        "--preset",
        config,
        "preset",
        "small: 64 px, small128 and medium128 (twice the channels): 128 px, paper: 224 px",
        choices=["small", "small128", "medium128", "paper"],
    )
    config_option(p, "--epochs", config, "epochs", "passes over the faces", type=int)
    config_option(p, "--batch-size", config, "batch_size", "faces per step", type=int)
    config_option(
        p, "--lr", config, "learning_rate", "Adam learning rate", type=float, metavar="LR"
    )
    config_option(
        p,
        "--schedule",
        config,
        "schedule",
        "learning rate: constant, or cosine decay over the run",
        choices=["constant", "cosine"],
    )
    config_option(
        p,
        "--edge-weight",
        config,
        "edge_weight",
        "weight of the L1 of image gradients beside the texture L1 (sharper faces)",
        type=float,
    )
    config_option(
        p,
        "--detail-epochs",
        config,
        "detail_epochs",
        "epochs after --epochs that also match the local Laplacian energy of the real faces"
        " (the detail an L1 averages away)",
        type=int,
    )
    config_option(
        p, "--detail-weight", config, "detail_weight", "weight of that detail loss", type=float
    )
    config_option(
        p,
        "--detail-lr",
        config,
        "detail_learning_rate",
        "Adam learning rate of the detail epochs (constant)",
        type=float,
        metavar="LR",
    )
    config_option(
        p,
        "--min-age",
        config,
        "min_age",
        "face sources: skip faces labelled younger than this (years; unlabelled kept)",
        type=float,
    )
    config_option(
        p,
        "--workers",
        config,
        "workers",
        "face sources: worker processes that detect and describe their faces",
        type=int,
    )
    config_option(
        p,
        "--grid-every",
        config,
        "grid_every",
        "epochs between picture grids (the first and the last epoch always get one)",
        type=int,
    )
    config_option(
        p, "--frames-per-video", config, "frames_per_video", "faces kept per face video", type=int
    )
    config_option(
        p,
        "--frame-candidates",
        config,
        "frame_candidates",
        "frames read per kept face of a video; the most frontal and neutral are kept",
        type=int,
    )
    config_option(
        p,
        "--max-face-score",
        config,
        "max_face_score",
        "drop training faces less frontal and neutral than this (each identity keeps its "
        "best face); see speech2face.faces.canonical",
        type=float,
    )
    config_option(
        p,
        "--neutral-landmarks",
        config,
        "neutral_landmarks",
        "landmark targets in the identity's neutral geometry (mouths closed, averaged); "
        "--no-neutral-landmarks: each face's own landmarks",
        action=argparse.BooleanOptionalAction,
    )
    _add_common(p, config)


def add_pretrain_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `pretrain`: sources and the fields of PretrainConfig."""
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="voice-only speakers: a manifest CSV (rows of kind speech), a folder "
        "<speaker>/<file>, or a dataset folder from `prepare` (its train split)",
    )
    p.add_argument("-o", "--output", required=True, help="run folder to write (or resume)")
    config = PretrainConfig
    config_option(p, "--preset", config, "preset", "voice encoder size", choices=["small", "paper"])
    config_option(
        p,
        "--target",
        config,
        "target",
        "speaker: a softmax over the speakers; ge2e: distil the pretrained GE2E speaker "
        "encoder (regress each window's embedding)",
        choices=["speaker", "ge2e"],
    )
    config_option(p, "--steps", config, "steps", "training steps", type=int)
    config_option(p, "--batch-size", config, "batch_size", "windows per step", type=int)
    config_option(
        p, "--lr", config, "learning_rate", "Adam learning rate", type=float, metavar="LR"
    )
    config_option(p, "--hop-seconds", config, "hop_seconds", "hop between 6 s windows", type=float)
    config_option(
        p, "--splits", config, "splits", "manifest rows of these splits (comma-separated)"
    )
    config_option(
        p,
        "--augment",
        config,
        "augment",
        "random circular time shift and gain",
        action=argparse.BooleanOptionalAction,
    )
    config_option(
        p, "--checkpoint-every", config, "checkpoint_every", "steps between checkpoints", type=int
    )
    config_option(p, "--seed", config, "seed", "random seed", type=int)


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
    p = sub.add_parser(
        "train-decoder",
        help="train the face decoder (Cole et al.): face feature -> face image",
        description="Train the face decoder on the faces of a dataset (train split) and of "
        "face-only sources (photos / silent face videos). Writes OUTPUT/decoder.keras, mean "
        "landmarks, TensorBoard logs and a PNG grid per epoch; rerun to resume.",
    )
    add_decoder_arguments(p)
    p.set_defaults(func=_cmd_train_decoder)

    p = sub.add_parser(
        "pretrain",
        help="pretrain the voice encoder as a speaker classifier on voice-only recordings",
        description="Train the voice encoder (Table 1) with a softmax over speakers on "
        "voice-only recordings (e.g. LibriSpeech, VCTK), the usual route to a voice embedding; "
        "`speech2face train --init OUTPUT` then starts from it. Writes the encoder, "
        "speakers.json, pretrain.json (held-out speaker accuracy) and history.csv; rerun to "
        "resume.",
    )
    add_pretrain_arguments(p)
    p.set_defaults(func=_cmd_pretrain)

    p = sub.add_parser(
        "train",
        help="train the voice encoder with the frozen face decoder (Speech2Face)",
        description="Train the Speech2Face voice encoder on a dataset's train split with the "
        "paper's optimiser and the recipe's loss (--recipe); writes a bundle (voice encoder, "
        "face decoder, mean landmarks, config) that predict/evaluate load. Rerun to resume "
        "exactly.",
    )
    add_train_arguments(p)
    p.set_defaults(func=_cmd_train)
