"""CLI training stages: `train-decoder` and `train`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_train_decoder(args) -> int:
    import json

    from speech2face import faces
    from speech2face.dataset.reader import Dataset
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


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
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
