"""The `speech2face` command line: one subcommand per stage of the data flow.

Each system registers its own commands (speech2face.speech2face.cli,
speech2face.wav2pix.cli); the commands over both (compare, demo, serve) are in
:mod:`speech2face.cli.both_systems`. Heavy libraries (Keras, TensorFlow, dlib) are imported
inside the subcommands, so ``speech2face --help`` answers at once.
"""

from __future__ import annotations

import argparse
import logging
import sys

from speech2face import __version__
from speech2face.cli import both_systems
from speech2face.speech2face import cli as speech2face_commands
from speech2face.wav2pix import cli as wav2pix_commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every subcommand (used by `main` and by the wrappers)."""
    parser = argparse.ArgumentParser(
        prog="speech2face",
        description="Speech2Face (Oh et al., CVPR 2019): predict a face from a voice.",
    )
    parser.add_argument("--version", action="version", version=f"speech2face {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = (speech2face_commands, both_systems, wav2pix_commands)
    for module in modules:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # the command line (argv None) runs one command per process; a caller passing argv
    # (Python, tests) keeps its process, so no process-wide choice such as the backend
    args.own_process = argv is None
    if not args.verbose:  # TensorFlow's C++ import-time lines only with -v
        from speech2face import quiet

        quiet.install()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from speech2face.errors import UserError, os_error_line

    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"speech2face {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, read-only output: one line, not a traceback
        line = os_error_line(exc, getattr(args, "output", None))
        if line is None:
            raise
        logging.getLogger(__name__).debug("%s failed", args.command, exc_info=True)
        print(f"speech2face {args.command}: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
