"""CLI stage that shows a trained bundle in the browser: `serve`."""

from __future__ import annotations

from speech2face.serve import HOST, PORT  # light: numpy only; Gradio loads in serve()


def _cmd_serve(args) -> int:
    from speech2face.cli.result_commands import default_model_note
    from speech2face.serve import serve

    serve(default_model_note(args.model), args.data, args.host, args.port, args.split, args.wav2pix)
    return 0


def register(sub) -> None:
    """Add this module's subcommands to the `speech2face` parser."""
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
