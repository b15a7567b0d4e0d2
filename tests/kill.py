"""Run a CLI command in a subprocess and kill it (SIGKILL, whole process group) as soon as its
first checkpoint exists: the start of every kill-and-resume test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def kill_after_checkpoint(argv: list[str], state: Path, timeout: float = 300) -> int:
    """Start ``python -m speech2face ARGV``, kill it once ``state`` (a JSON file with a
    "step") is written, and return that step."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "speech2face", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and not state.is_file() and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return int(json.loads(state.read_text())["step"])
