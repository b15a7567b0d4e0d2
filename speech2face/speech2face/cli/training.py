"""Speech2Face's voice training commands: `pretrain` and `train`.

Options are tables of config fields (:mod:`speech2face.cli.options`): TrainConfig for
`train`, PretrainConfig for `pretrain`.
"""

from __future__ import annotations

import argparse

from speech2face.cli.options import add_options, config_options, option
from speech2face.speech2face.training.config import (
    RECIPES,
    VOICE_ENCODERS,
    PretrainConfig,
    TrainConfig,
)
from speech2face.speech2face.training.speaker_head import BALANCE, HEADS

# Options of every training stage (the decoder's too)
COMMON_OPTIONS = (
    option("--seed", "seed", "random seed", type=int),
    option(
        "--vggface-weights",
        "vggface_weights",
        "rcmalli_vggface_tf_vgg16.h5 (vggface datasets; see weights/README.md)",
    ),
)

# `train --voice-encoder` and the options of the speaker-encoder route
VOICE_ROUTE_OPTIONS = (
    option(
        "--voice-encoder",
        "voice_encoder",
        f"voice route: {' or '.join(VOICE_ENCODERS)} (a head on the pretrained GE2E speaker "
        "embedding, which generalises to unheard voices on small data), a speaker encoder "
        "registered with speech2face.voices.register, or a .keras model of waveform -> "
        "embedding; paper trains the Table 1 CNN from the waveform (VoxCeleb-scale data)",
        metavar="NAME",
    ),
    option("--speaker-weights", "speaker_weights", "weights file of the speaker encoder"),
    option(
        "--head",
        "head",
        "speaker route: gender_ridge (a gender classifier blends the genders' mean faces, a "
        "ridge map adds the offset), ridge (closed-form linear map) or mlp (one hidden layer)",
        choices=HEADS,
    ),
    option("--head-alpha", "head_alpha", "ridge head: L2 penalty", type=float),
    option(
        "--radius-scale",
        "radius_scale",
        "speaker route: predictions at this fraction of the typical distance of real faces "
        "from the (gender's) mean face",
        type=float,
    ),
    option("--head-hidden", "head_hidden", "mlp head: hidden units", type=int),
    option("--head-epochs", "head_epochs", "mlp head: epochs", type=int),
    option(
        "--balance",
        "balance",
        "sample weights so that identities, genders or both count equally (auto: gender "
        "on the speaker route, none on the paper route)",
        choices=("auto", *BALANCE),
    ),
    option(
        "--finetune-speaker-encoder",
        "finetune_speaker_encoder",
        "speaker route: after the head, train the speaker encoder too (--steps, --epochs)",
        action=argparse.BooleanOptionalAction,
    ),
    option(
        "--finetune-lr",
        "finetune_learning_rate",
        "learning rate of the fine-tuning",
        type=float,
        metavar="LR",
    ),
)

# `train`: the paper route's schedule and losses, and where it runs
TRAIN_OPTIONS = (
    option(
        "--preset",
        "preset",
        "paper route: voice encoder size, paper (~160 M parameters) or small (CPU)",
        choices=["small", "paper"],
    ),
    option(("--batch-size", "--batchsize"), "batch_size", "segments per step", type=int),
    option("--epochs", "epochs", "passes over the training split", type=float),
    option("--steps", "steps", "training steps (overrides --epochs)", type=int),
    option("--lr", "learning_rate", "initial learning rate", type=float, metavar="LR"),
    option("--checkpoint-every", "checkpoint_every", "steps between checkpoints", type=int),
    option(
        "--recipe",
        "recipe",
        "loss and target scale: paper (the Speech2Face loss on raw features, tuned for "
        "VGG-Face), dlib (standardised targets, squared error + normalised distance), or "
        "auto (paper for vggface datasets, dlib for dlib ones)",
        choices=RECIPES,
    ),
    option(
        "--cosine-weight",
        "cosine_weight",
        "dlib recipe: weight of the normalised distance",
        type=float,
    ),
    option(
        "--init",
        "init",
        "start from the voice encoder of a `speech2face pretrain` run (same --preset)",
    ),
    option(
        "--augment",
        "augment",
        "random circular time shift and gain of each 6 s segment",
        action=argparse.BooleanOptionalAction,
    ),
    option(
        "--precise-bn",
        "precise_bn",
        "re-estimate BatchNorm statistics over the training split after training",
        action=argparse.BooleanOptionalAction,
    ),
    option(
        "--calibrate-radius",
        "calibrate_radius",
        "dlib recipe: put every prediction at the typical distance of real faces from the "
        "mean face (a squared error alone shrinks unheard voices towards the mean face)",
        action=argparse.BooleanOptionalAction,
    ),
    option(
        "--fit-segments",
        "fit_segments",
        "training segments on which recall@1 is logged every checkpoint",
        type=int,
    ),
    option(
        ("--num_gpu", "--num-gpu"),
        "num_gpu",
        "data-parallel devices (MirroredStrategy on TF, DataParallel on JAX)",
        type=int,
    ),
    option(
        "--hosts",
        "hosts",
        "several hosts (JAX): run the same command on every host with "
        "KERAS_DISTRIBUTION_JOB_ADDRESSES (coordinator host:port), "
        "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID set; the batch "
        "size is the global one, split between the hosts",
        action="store_true",
    ),
    option(
        "--readers",
        "readers",
        "threads reading and decoding batches ahead of training",
        type=int,
    ),
)

# `pretrain`: the voice encoder as a speaker classifier (or a GE2E student)
PRETRAIN_OPTIONS = (
    option("--preset", "preset", "voice encoder size", choices=["small", "paper"]),
    option(
        "--target",
        "target",
        "speaker: a softmax over the speakers; ge2e: distil the pretrained GE2E speaker "
        "encoder (regress each window's embedding)",
        choices=["speaker", "ge2e"],
    ),
    option("--steps", "steps", "training steps", type=int),
    option("--batch-size", "batch_size", "windows per step", type=int),
    option("--lr", "learning_rate", "Adam learning rate", type=float, metavar="LR"),
    option("--hop-seconds", "hop_seconds", "hop between 6 s windows", type=float),
    option("--splits", "splits", "manifest rows of these splits (comma-separated)"),
    option(
        "--augment",
        "augment",
        "random circular time shift and gain",
        action=argparse.BooleanOptionalAction,
    ),
    option("--checkpoint-every", "checkpoint_every", "steps between checkpoints", type=int),
    option("--seed", "seed", "random seed", type=int),
)


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


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `train`: --data, --decoder, -o and the fields of TrainConfig."""
    p.add_argument("--data", required=True, help="dataset folder from `speech2face prepare`")
    p.add_argument("--decoder", required=True, help="run folder of `speech2face train-decoder`")
    p.add_argument("-o", "--output", required=True, help="bundle folder to write (or resume)")
    add_options(p, TrainConfig, VOICE_ROUTE_OPTIONS + TRAIN_OPTIONS + COMMON_OPTIONS)


def add_pretrain_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `pretrain`: SOURCE..., -o and the fields of PretrainConfig."""
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="voice-only speakers: a manifest CSV (rows of kind speech), a folder "
        "<speaker>/<file>, or a dataset folder from `prepare` (its train split)",
    )
    p.add_argument("-o", "--output", required=True, help="run folder to write (or resume)")
    add_options(p, PretrainConfig, PRETRAIN_OPTIONS)


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
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
