"""Speech2Face's commands that use a trained bundle: `predict`, `evaluate`, `crossval`."""

from __future__ import annotations

import sys
from pathlib import Path

from speech2face.speech2face.evaluation.sf2f_retrieval import GALLERY_SIZE


def default_model_note(model: str | None):
    """``model``, or the shipped bundle's folder with a line saying it is used."""
    if model is not None:
        return model
    from speech2face.speech2face.bundle import default_bundle

    folder = default_bundle()
    print(
        f"no --model given: using the shipped default model ({folder}; trained on the "
        "sample data and UTKFace, non-commercial research use, see its MODEL_CARD.md)"
    )
    return folder


def inference_backend() -> str | None:
    """Choose Keras's numpy backend for a one-shot `predict`, unless the user chose one.

    Importing TensorFlow alone takes ~8 s on this 2-core CPU and a first TensorFlow call
    traces a graph; a one-shot prediction needs neither gradients nor graphs. Keras's
    inference-only numpy backend (its convolutions run through JAX) starts in ~4 s and gives
    the same faces to 1 grey level (tests/test_default_model.py). Called only when
    `speech2face predict` is the process's one command (the backend stays for the life of
    the process; `cli.main(argv)` from Python leaves it alone). Left alone when
    ``KERAS_BACKEND`` is set, Keras is already imported or JAX is missing (``keras.json``
    is not read: Keras writes "tensorflow" there by itself). Returns the backend set, or
    None.
    """
    import importlib.util
    import os

    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return None
    if importlib.util.find_spec("jax") is None:
        return None
    os.environ["KERAS_BACKEND"] = "numpy"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # numpy arrays: no accelerator probing
    return "numpy"


def _cmd_predict(args) -> int:
    if getattr(args, "own_process", False):  # Keras loads once per process: only then
        inference_backend()
    from speech2face import api
    from speech2face.predict_files import check_output_folder, predict_files

    check_output_folder(args.output, args.voices)  # before the model loads
    model = api.load_model(default_model_note(args.model))
    result = predict_files(model, args.voices, args.output, save_vectors=args.save_features)
    done, skipped = len(result["written"]), len(result["skipped"])
    warned = f", {len(result['warnings'])} with a warning" if result["warnings"] else ""
    print(f"{done} of {done + skipped} voices -> faces in {args.output}{warned}")
    return 1 if skipped else 0


def _cmd_evaluate(args) -> int:
    from speech2face import api
    from speech2face.speech2face.evaluation.summary import summary_lines

    metrics = api.evaluate(
        args.data,
        args.model,
        args.output,
        split=args.split,
        gallery_size=args.gallery_size,
        face_scorer=args.face_scorer,
    )
    print("\n".join(summary_lines(metrics)))
    print(f"report: {Path(args.output) / 'index.html'}")
    return 0


def _cmd_crossval(args) -> int:
    import json

    from speech2face.speech2face.evaluation.crossval import (
        DEFAULT_RECIPES,
        crossval,
        crossval_paper,
        table_lines,
    )

    out = Path(args.output)
    if args.paper:
        inits = {}
        for text in args.paper:
            name, _, run = text.partition("=")
            inits[name] = run or None
        result = crossval_paper(
            args.data,
            args.decoder,
            out,
            inits,
            folds=args.folds,
            repeats=args.repeats,
            steps=args.paper_steps,
            seed=args.seed,
        )
        print("\n".join(table_lines(result)))
        print(f"table: {out / 'crossval_paper.md'}  figures: {out / 'crossval_paper.json'}")
        if not args.recipe:
            return 0
    recipes = dict(DEFAULT_RECIPES)
    if args.recipe:
        recipes = {}
        for text in args.recipe:
            name, _, options = text.partition("=")
            recipes[name] = json.loads(options or "{}")
    result = crossval(
        args.data,
        args.decoder,
        args.output,
        folds=args.folds,
        repeats=args.repeats,
        recipes=recipes,
        voice_encoder=args.voice_encoder,
        seed=args.seed,
    )
    print("\n".join(table_lines(result)))
    print(f"table: {out / 'crossval.md'}  figures: {out / 'crossval.json'}")
    return 0


def _add_predict(sub) -> None:
    """`predict`: faces from voice files."""
    p = sub.add_parser(
        "predict",
        help="predict a face picture from voice recordings",
        description="Any audio or video file of any length: shorter than 6 s is loop-padded, "
        "longer is cut into 6 s windows whose predicted features are averaged. Faces are "
        "named after the voice's file stem, with its parent folder added when stems collide; "
        "OUTPUT/predictions.csv lists every voice with its face and notes (a voice with no "
        "speech gets a warning: its face is the model's prior).",
    )
    p.add_argument("voices", nargs="+", metavar="VOICE", help="audio or video files")
    p.add_argument("-o", "--output", required=True, help="folder for the PNG faces")
    p.add_argument(
        "--model",
        help="bundle folder from `speech2face train` (default: the shipped model, see "
        "speech2face/speech2face/default_model/MODEL_CARD.md)",
    )
    p.add_argument("--save-features", action="store_true", help="also write features as .npy")
    p.set_defaults(func=_cmd_predict)


def _add_evaluate(sub) -> None:
    """`evaluate`: every protocol of a bundle."""
    p = sub.add_parser(
        "evaluate",
        help="retrieval, similarity, gender, craniofacial and landmark-detection metrics",
        description="Evaluate a bundle on the held-out splits of a dataset, one protocol each "
        "(test: unseen identities; test_seen: seen identities, unseen speech): recall@K (two "
        "galleries, chance rows), feature similarity and spread, gender agreement beside the "
        "voice-pitch baseline and the majority rate, craniofacial correlations and the "
        "landmark-detection ratio; and the fit on the training split. Writes metrics.json, "
        "faces_<split>.png, recall_<split>.png and index.html.",
    )
    p.add_argument("--data", required=True, help="dataset folder")
    p.add_argument("--model", required=True, help="bundle folder")
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.add_argument(
        "--split",
        default=None,
        help="one split only (test, test_seen or train); default: every held-out split",
    )
    p.add_argument(
        "--gallery-size",
        type=int,
        default=GALLERY_SIZE,
        help="identities per SF2F retrieval gallery (SF2F: 100; fewer test identities: one "
        "gallery of all of them) (default: %(default)s)",
    )
    p.add_argument(
        "--face-scorer",
        metavar="MODEL.keras",
        help="score retrieval and matching with this face-embedding model (images in [0, 1] "
        "-> vectors, e.g. FaceNet on VGGFace2 as SF2F, ArcFace as Vox2Face) on the faces "
        "rendered from voices vs the real faces (default: the dataset's face features)",
    )
    p.set_defaults(func=_cmd_evaluate)


def _add_crossval(sub) -> None:
    """`crossval`: recipes cross-validated over identities."""
    p = sub.add_parser(
        "crossval",
        help="choose a recipe: k-fold cross-validation over identities, mean ± std",
        description="Pool every talking-face identity of a dataset, deal them into folds "
        "(stratified by gender), and for each recipe of the speaker-encoder route train on all "
        "folds but one and measure the held-out one: gender of the decoded face and of the "
        "predicted feature (balanced accuracy) beside the voice-pitch baseline, the majority "
        "rate and chance; identity and segment recall@1 beside chance; the fit on the "
        "training folds. Writes crossval.json and crossval.md (the tables of docs/recipes.md).",
    )
    p.add_argument("--data", required=True, help="dataset folder (dlib features)")
    p.add_argument("--decoder", required=True, help="run folder of `speech2face train-decoder`")
    p.add_argument("-o", "--output", required=True, help="folder for crossval.json/.md")
    p.add_argument("--folds", type=int, default=3, help="k (default: %(default)s)")
    p.add_argument(
        "--repeats", type=int, default=2, help="deals with other seeds (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the first deal")
    p.add_argument("--voice-encoder", default="ge2e", help="speaker encoder (default: %(default)s)")
    p.add_argument(
        "--recipe",
        action="append",
        metavar='NAME={"option": value}',
        help="a recipe: a name and TrainConfig options as JSON, e.g. "
        "'alpha 3={\"head_alpha\": 3}'; repeatable (default: the built-in comparison)",
    )
    p.add_argument(
        "--paper",
        action="append",
        metavar="NAME=PRETRAIN_RUN",
        help="cross-validate the paper route instead (the Table 1 CNN, trained per fold), "
        "started from a `speech2face pretrain` run on voice-only speakers, or from scratch "
        "with NAME= ; repeatable (with --recipe too, both run)",
    )
    p.add_argument(
        "--paper-steps",
        type=int,
        default=300,
        help="paper route: steps per fold (default: %(default)s)",
    )
    p.set_defaults(func=_cmd_crossval)


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
    _add_predict(sub)
    _add_evaluate(sub)
    _add_crossval(sub)
