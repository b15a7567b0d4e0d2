"""Commands over both systems: `compare` (two reports), `demo` and `serve` (the web page).

`compare` reads reports of `evaluate` and `wav2pix evaluate` alike; `demo --system` runs
either system's demo; `serve` shows a Speech2Face bundle with a Wav2Pix run beside it.
"""

from __future__ import annotations

from pathlib import Path

from speech2face.evaluation.intervals import N_BOOT
from speech2face.speech2face.demo import OUTPUT, DemoConfig
from speech2face.wav2pix.demo import Wav2PixDemoConfig
from speech2face.web.page import HOST, PORT  # light: numpy only; Gradio loads in serve()


def _cmd_compare(args) -> int:
    import json

    from speech2face.evaluation.compare import compare_lines, compare_reports

    result = compare_reports(args.a, args.b, n_boot=args.n_boot)
    print("\n".join(compare_lines(result)))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
        print(f"written: {args.output}")
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


def _add_compare(sub) -> None:
    """`compare`: two reports, each difference with a paired interval over identities."""
    p = sub.add_parser(
        "compare",
        help="two reports side by side, each difference with a paired 95 %% interval",
        description="Compare two report folders of `evaluate` or `wav2pix evaluate` (two "
        "recipes, two seeds, or the two systems) split by split, on the identities both "
        "were scored on: each figure both hold (recall@1, SF2F recall@K, 1:2 matching, the "
        "share of faces dlib finds, balanced gender accuracy per route, Wav2Pix identity "
        "accuracy), A - B with a 95 % bootstrap interval that resamples the shared "
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


def _cmd_serve(args) -> int:
    from speech2face.speech2face.cli.results import default_model_note
    from speech2face.web.page import serve

    serve(default_model_note(args.model), args.data, args.host, args.port, args.split, args.wav2pix)
    return 0


def _add_serve(sub) -> None:
    """`serve`: the web page of a bundle (and a Wav2Pix run)."""
    p = sub.add_parser(
        "serve",
        help="a web page: record or upload a voice, see the predicted face",
        description="Start a Gradio page (offline, no analytics): record from the microphone or "
        "upload any audio/video file (0.5 s to 10 min) and see its compressed spectrogram, the "
        "face Speech2Face predicts, the voice-pitch reading and, with --data, the nearest "
        "identities of the dataset's gallery beside their real faces. Needs the [web] extra.",
    )
    p.add_argument(
        "--model", help="bundle folder from `speech2face train` (default: the shipped model)"
    )
    p.add_argument("--data", help="dataset folder whose identities form the gallery")
    p.add_argument("--split", help="gallery split of --data (default: every identity)")
    p.add_argument("--wav2pix", help="a Wav2Pix run folder (`wav2pix train`): a second face")
    p.add_argument("--host", default=HOST, help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=PORT, help="port (default: %(default)s)")
    p.set_defaults(func=_cmd_serve)


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
    _add_compare(sub)
    _add_demo(sub)
    _add_serve(sub)
