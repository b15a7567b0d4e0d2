"""One writer per output folder: a lock file held while a stage writes there.

Two `prepare` runs on one dataset folder, or two `train` runs on one bundle folder, would
interleave shards and checkpoints; the second run refuses at once with one line naming the
folder and the run that holds it. The lock is the `filelock` package's ``FileLock``: an
``flock`` on ``OUTPUT/.speech2face.lock``, which the kernel releases when the holder
dies, however it dies, so a lock left by a killed run is never in the way (on a file
system without ``flock`` filelock falls back to a marker file holding its pid and host,
which a later run removes once that process is gone). Who holds the lock (stage, pid, host,
start time, command) is written beside it in ``OUTPUT/.speech2face.lock.json`` for the
message.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from speech2face.errors import UserError

LOCK_FILE = ".speech2face.lock"
HOLDER_FILE = ".speech2face.lock.json"


class BusyError(UserError):
    """Another run is writing into the same output folder."""


def _holder(folder: Path) -> str:
    try:
        info = json.loads((folder / HOLDER_FILE).read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
        return f"`speech2face {info['stage']}` (pid {info['pid']} on {info['host']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another speech2face run"


@contextmanager
def hold(folder: str | os.PathLike, stage: str) -> Iterator[Path]:
    """Hold the lock of an output folder while ``stage`` writes into it.

    Args:
        folder: the output folder (created when missing).
        stage: the stage's name, shown to a run that finds the folder busy.
    Yields:
        The folder, as a Path.
    Raises:
        BusyError: another live run holds the folder (names it and the holder).
        OSError: the folder cannot be created or written (read-only, disk full).
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(
            f"{folder}: in use by {_holder(folder)}; wait for it to finish, or write to "
            "another folder"
        ) from None
    try:
        info = {
            "stage": stage,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.time(),
            "command": " ".join(sys.argv),
        }
        tmp = folder / f"{HOLDER_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info))
        os.replace(tmp, folder / HOLDER_FILE)
        yield folder
    finally:
        with suppress(OSError):  # a read-only or full disk must not hide the run's own error
            (folder / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
