"""Quiet TensorFlow: no C++ log lines before a command's own output (unless ``-v``).

TensorFlow's C++ runtime prints lines while it is imported, before any Python setting can
reach it: absl's "WARNING: All log messages before absl::InitializeLog() is called are
written to STDERR", oneDNN's "custom operations are on" and the CPU-feature notice. They
go to file descriptor 2, not to ``sys.stderr``. :func:`install` makes the first import of
``tensorflow`` (whichever module triggers it: Keras, a stage) run with descriptor 2 on
``/dev/null``; Python's own errors still reach the terminal, since they are printed after
the import returns or raises. ``TF_CPP_MIN_LOG_LEVEL=2`` (unless set) keeps TensorFlow's
later INFO and WARNING lines away too, and the Python loggers of the libraries
(:data:`LIBRARY_LOGGERS`: TensorFlow's retracing warnings, matplotlib's notes on category
axes) show only what is above their chatter.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys

TARGET = "tensorflow"
LIBRARY_LOGGERS = {
    "tensorflow": logging.ERROR,
    "absl": logging.ERROR,
    "matplotlib": logging.WARNING,
}


@contextlib.contextmanager
def stderr_to_devnull():
    """Point file descriptor 2 at /dev/null inside the block (C libraries' output too)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class _Loaded(importlib.abc.Loader):
    """Hands the import system the module that was just imported quietly."""

    def create_module(self, spec):
        return sys.modules[spec.name]

    def exec_module(self, module):
        pass


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)  # once: the real finders do the import below
        with stderr_to_devnull():
            module = importlib.import_module(TARGET)
        return importlib.machinery.ModuleSpec(TARGET, _Loaded(), origin=module.__spec__.origin)


def install() -> None:
    """Import TensorFlow quietly when something first imports it (no-op if it already is),
    and raise the level of the libraries' Python loggers."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name, level in LIBRARY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    if TARGET in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())
