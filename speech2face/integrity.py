"""Integrity of the files one stage writes and a later stage reads: detect damage before use.

A stage that writes a model, a checkpoint or a shard records each file's size and sha256
(:func:`record`) in its own JSON (``bundle.json`` "files", ``dataset.json`` "shards",
``checkpoint.json`` "files", ``pretrain.json`` "files", the decoder run's ``decoder.json``
"files"). The stage that reads it checks the record first (:func:`check`); a file that
still fails to load is reported by :func:`reading`. Either way the user sees one line
naming the file, the cause and what to do (re-train, re-run prepare), never a traceback:
a :class:`DamagedFileError`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from speech2face.errors import UserError

log = logging.getLogger(__name__)

_VERIFIED: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256) seen intact


class DamagedFileError(UserError):
    """A file is truncated, altered or foreign; the message names it and what to do."""


def sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(path: str | os.PathLike) -> dict:
    """``{"bytes": size, "sha256": hex}`` of a file, as stages store it in their JSON."""
    return {"bytes": Path(path).stat().st_size, "sha256": sha256(path)}


def records(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, dict]:
    """``{name: record(folder / name)}`` for files inside ``folder``."""
    return {name: record(Path(folder) / name) for name in names}


def check(
    path: str | os.PathLike,
    expected: dict | None,
    remedy: str,
    *,
    what: str = "file",
    full: bool = True,
) -> None:
    """Check a file against its record before it is used.

    The size is compared first (a truncated copy fails at once), then the sha256 unless
    ``full`` is False. A file found intact is remembered (by size and modification time),
    so a reader that opens it again in the same process does not hash it again.

    Args:
        path: the file. expected: its record (``{"bytes", "sha256"}``; either key may be
            missing; None checks only that the file exists).
        remedy: what the user should do, e.g. "re-run `speech2face prepare` to rebuild it".
        what: the kind of file named in the message ("shard", "model weights file", ...).
        full: also compare the sha256 (False: size only, for a cheap check of many files).
    Raises:
        DamagedFileError: missing, other size, or other sha256; one line naming the file.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise DamagedFileError(f"{path}: {what} is missing; {remedy}") from None
    expected = expected or {}
    size = expected.get("bytes")
    if size is not None and stat.st_size != size:
        raise DamagedFileError(
            f"{path}: damaged {what} ({stat.st_size:,} bytes, {size:,} recorded when it was "
            f"written: truncated or replaced); {remedy}"
        )
    digest = expected.get("sha256")
    if not full or not digest:
        return
    key = str(path.resolve())
    if _VERIFIED.get(key) == (stat.st_size, stat.st_mtime_ns, digest):
        return
    if sha256(path) != digest:
        raise DamagedFileError(
            f"{path}: damaged {what} (its sha256 differs from the one recorded when it was "
            f"written: altered or replaced); {remedy}"
        )
    _VERIFIED[key] = (stat.st_size, stat.st_mtime_ns, digest)


HDF5_MARGIN = 64 << 10  # bytes: HDF5 metadata of a weights file, beyond its arrays
HDF5_PER_ARRAY = 4096  # bytes of metadata per stored array


def ensure_space(folder: str | os.PathLike, arrays: Iterable, what: str) -> None:
    """Refuse to start an HDF5 write of ``arrays`` that the disk of ``folder`` cannot hold.

    HDF5 (through h5py) that runs out of space while closing a file it writes can leave the
    library in a state that crashes the process later (a segmentation fault at the next file
    close or at exit). Checking the free space first turns the common case, a disk that is
    already nearly full, into a clean ``OSError(ENOSPC)`` before any byte is written; a disk
    filled by another process during the write stays HDF5's to handle.

    Args:
        folder: the folder the file goes to (must exist).
        arrays: the variables or arrays to be written (anything with ``shape`` and
            ``dtype``; Keras variables included).
        what: the file, for the message.
    Raises:
        OSError: errno ENOSPC, naming ``what``, the bytes needed and the bytes free.
    """
    import errno

    import numpy as np

    arrays = list(arrays)
    need = HDF5_MARGIN + sum(
        HDF5_PER_ARRAY + int(np.prod(a.shape)) * np.dtype(str(a.dtype)).itemsize for a in arrays
    )
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    if free < need:
        raise OSError(
            errno.ENOSPC,
            f"no space left on the disk of {folder} for {what}: about {need / 1e6:.2f} MB "
            f"needed, {free / 1e6:.2f} MB free; free some space and run the command again",
        )


def inside(folder: str | os.PathLike, name: str) -> Path:
    """``folder / name`` for a relative name recorded in a stage's JSON.

    Raises:
        ValueError: ``name`` is absolute or climbs out with ``..`` (a record must only name
            files of its own folder).
    """
    path = Path(name) if isinstance(name, str) and name else None
    if path is None or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"names a file outside its folder: {name!r}")
    return Path(folder) / name


def check_all(folder: str | os.PathLike, expected: dict[str, dict], remedy: str, **kw) -> None:
    """:func:`check` every ``{name: record}`` of files inside ``folder``.

    Raises:
        DamagedFileError: a file differs from its record, or a name leaves ``folder``.
    """
    for name, rec in expected.items():
        try:
            path = inside(folder, name)
        except ValueError as exc:
            raise DamagedFileError(f"{folder}: its record {exc}; {remedy}") from None
        check(path, rec if isinstance(rec, dict) else None, remedy, **kw)


def cause(exc: BaseException) -> str:
    """First line of an exception as ``Class: message`` (for one-line errors)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


@contextmanager
def reading(path: str | os.PathLike, remedy: str, what: str = "file") -> Iterator[None]:
    """Turn any failure while loading ``path`` into a one-line :class:`DamagedFileError`.

    For files whose damage a record cannot catch (written before records existed, or a
    foreign file with matching name): h5py's ``OSError`` on a truncated file, Keras's
    ``ValueError`` on weights of another model, a JSON syntax error, a bad zip. A
    :class:`UserError` raised inside passes through unchanged. The traceback goes to the
    debug log (``speech2face -v``).

    Raises:
        DamagedFileError: naming ``path``, the cause and ``remedy``.
    """
    try:
        yield
    except UserError:
        raise
    except Exception as exc:  # any failure to load a file is a damaged or foreign file
        log.debug("loading %s failed", path, exc_info=True)
        raise DamagedFileError(
            f"{path}: cannot load this {what}, damaged or not written by speech2face "
            f"({cause(exc)}); {remedy}"
        ) from None


def check_recorded(folder: str | os.PathLike, info_file: str, remedy: str, what: str) -> None:
    """Check the files a run folder's JSON (``info_file``, key ``files``) records.

    A run written before the records existed (no such file or key) passes; its files are
    still guarded by :func:`reading` when loaded.

    Raises:
        DamagedFileError: the JSON is unreadable or a recorded file differs from its record.
    """
    import json

    path = Path(folder) / info_file
    if not path.is_file():
        return
    with reading(path, remedy, "run record"):
        info = json.loads(path.read_text())
        files = info.get("files", {}) if isinstance(info, dict) else {}
    check_all(folder, files, remedy, what=what)


def check_format(path: str | os.PathLike, info: dict, reads: int, what: str) -> None:
    """Refuse a written file of a format this release does not read.

    Args:
        path: the JSON file (named in the error). info: its parsed content; no
            ``format`` key is format 1 (files written before formats were recorded).
        reads: the newest format this release reads. what: e.g. "bundle", "Wav2Pix run".
    Raises:
        UserError: ``format`` is not an integer, or newer than ``reads``.
    """
    fmt = info.get("format", 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise UserError(f"{path}: {what} format {fmt!r} is not a format number")
    if fmt > reads:
        raise UserError(
            f"{path}: {what} format {fmt}, written by a newer speech2face; this release "
            f"reads format {reads} and older: upgrade (pip install -U speech2face)"
        )
