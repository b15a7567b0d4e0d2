"""CLI stages that use a trained bundle: `predict`, `evaluate` and `demo`."""

from __future__ import annotations

import sys
from pathlib import Path

from speech2face.speech2face.demo import OUTPUT, DemoConfig
from speech2face.speech2face.evaluation.literature import N_BOOT
from speech2face.speech2face.evaluation.sf2f_retrieval import GALLERY_SIZE
from speech2face.wav2pix.demo import Wav2PixDemoConfig


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
    result = predict_files(model, args.voices, args.output, save_features=args.save_features)
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


def _cmd_compare(args) -> int:
    import json

    from speech2face.evaluation.compare import compare_lines, compare_reports

    result = compare_reports(args.a, args.b, n_boot=args.n_boot)
    print("\n".join(compare_lines(result)))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
        print(f"written: {args.output}")
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


def _cmd_demo(args) -> int:
    if args.system == "wav2pix":
        from speech2face.wav2pix.demo import run_wav2pix_demo

        config = Wav2PixDemoConfig.quick() if args.quick else Wav2PixDemoConfig()
        config.workers = args.workers
        config.speech_encoder = args.speech_encoder
        config.seeds = args.seeds
        run_wav2pix_demo(args.output, args.data, config)
        return 0
    from speech2face.speech2face.demo import run_demo

    config = DemoConfig.quick() if args.quick else DemoConfig()
    config.workers = args.workers
    config.voice_encoder = args.voice_encoder
    config.retrain_decoder = args.retrain_decoder
    run_demo(args.output, args.data, config)
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


def _add_compare(sub) -> None:
    """`compare`: two reports, each difference with a paired interval over identities."""
    p = sub.add_parser(
        "compare",
        help="two reports side by side, each difference with a paired 95 %% interval",
        description="Compare two report folders of `evaluate` or `wav2pix evaluate` (two "
        "recipes, two seeds, or the two systems) split by split, on the identities both "
        "were scored on: each figure both hold (recall@1, SF2F recall@K, 1:2 matching, the "
        "share of faces dlib finds, balanced gender accuracy per route, Wav2Pix identity "
        "accuracy), A - B with a 95 %% bootstrap interval that resamples the shared "
        "identities with the same draws for both. An interval that excludes 0 is a "
        "difference these identities support.",
    )
    p.add_argument("a", metavar="REPORT_A", help="report folder (probes_<split>.csv inside)")
    p.add_argument("b", metavar="REPORT_B", help="report folder to compare with")
    p.add_argument(
        "--n-boot", type=int, default=N_BOOT, help="bootstrap draws (default: %(default)s)"
    )
    p.add_argument("-o", "--output", metavar="FILE.json", help="also write the comparison")
    p.set_defaults(func=_cmd_compare)


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


def _add_demo(sub) -> None:
    """`demo`: the whole pipeline on the sample clips."""
    p = sub.add_parser(
        "demo",
        help="the whole pipeline on the real sample clips (about 2 minutes on a 2-core CPU)",
        description="prepare (both protocols) -> the shipped face decoder (--retrain-decoder: "
        "train-decoder on the sample faces) -> train (a head on the "
        "pretrained GE2E speaker encoder; --voice-encoder paper: pretrain + the paper's CNN) "
        "-> predict -> evaluate on the sample clips -> cross-validate the recipe over "
        "identities, then the goals measured. Writes OUTPUT/dataset, OUTPUT/decoder, "
        "OUTPUT/bundle (a model for `predict --model`), OUTPUT/predictions, "
        "OUTPUT/report/index.html and OUTPUT/crossval. The sample data "
        "is read from --data, $SPEECH2FACE_SAMPLES or ../shared/data, else downloaded from its "
        "public sources and checked by sha256. Rerun to resume.",
    )
    p.add_argument("-o", "--output", default=OUTPUT, help="output folder (default: %(default)s)")
    p.add_argument("--data", help="local copy of the sample data (folder with manifest.csv)")
    p.add_argument("--quick", action="store_true", help="a tiny run that checks the pipeline")
    p.add_argument(
        "--retrain-decoder",
        action="store_true",
        help="train the face decoder on the sample faces (about 3 minutes) instead of using "
        "the shipped one (trained on ~20,000 UTKFace and sample faces)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=DemoConfig.workers,
        help="prepare worker processes (default: %(default)s)",
    )
    p.add_argument(
        "--voice-encoder",
        default=DemoConfig.voice_encoder,
        choices=["ge2e", "paper"],
        help="Speech2Face voice route: ge2e (a head on the pretrained speaker encoder, the "
        "cross-validated choice) or paper (pretrain + the Table 1 CNN, ~13 minutes) "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--speech-encoder",
        default="segan",
        choices=["segan", "ge2e"],
        help="Wav2Pix speech encoder: segan (the authors') or ge2e (the frozen pretrained "
        "speaker encoder) (default: %(default)s)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=Wav2PixDemoConfig.seeds,
        help="wav2pix: train and evaluate this many seeds of the recipe and print mean +- "
        "std over them (a GAN's figures move with the seed) (default: %(default)s)",
    )
    p.add_argument(
        "--system",
        choices=["speech2face", "wav2pix"],
        default="speech2face",
        help="wav2pix: the Wav2Pix GAN on the seen-identity split, into OUTPUT/wav2pix "
        "(default: %(default)s)",
    )
    p.set_defaults(func=_cmd_demo)


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
    _add_predict(sub)
    _add_evaluate(sub)
    _add_compare(sub)
    _add_crossval(sub)
    _add_demo(sub)
