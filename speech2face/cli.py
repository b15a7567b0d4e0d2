"""The `speech2face` command line: one subcommand per stage of the data flow.

Heavy libraries (Keras, TensorFlow, dlib) are imported inside the subcommands, so
``speech2face --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys

from speech2face import __version__


def _cmd_spectrogram(args) -> int:
    from speech2face import audio
    from speech2face.report import plot_spectrogram

    wave = audio.load_audio(args.audio, start=args.start, end=args.end)
    if not args.full:
        wave = audio.loop_pad(wave)
    spec = audio.spectrogram(wave)
    title = f"{args.audio}  ({spec.shape[0]} frames x {spec.shape[1]} bins)"
    out = plot_spectrogram(spec, args.output, title=title)
    print(f"wrote {out}  spectrogram {spec.shape} from {wave.size / audio.SAMPLE_RATE:.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand (used by `main` and by the wrappers)."""
    parser = argparse.ArgumentParser(
        prog="speech2face",
        description="Speech2Face (Oh et al., CVPR 2019): predict a face from a voice.",
    )
    parser.add_argument("--version", action="version", version=f"speech2face {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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

    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from speech2face.errors import UserError

    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"speech2face {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
