"""Errors the CLI reports as one line, without a traceback."""

import os


class UserError(Exception):
    """Bad input or setup that the user can fix; the message names the file and the cause."""


def os_error_line(exc: OSError, fallback: str | None = None) -> str | None:
    """One line for an OSError a user can act on (disk full, read-only, no permission).

    Args:
        exc: the error, from Python or from h5py (whose message carries ``name = '...'``).
        fallback: the path to name when the error does not say (the stage's output folder).
    Returns:
        "PATH: cause; what to do", or None for other errors (a bug: keep the traceback).
    """
    import errno
    import re

    hints = {
        errno.ENOSPC: "the disk is full: free space, then rerun the same command to resume",
        errno.EDQUOT: "the disk quota is used up: free space, then rerun the same command",
        errno.EFBIG: "the file is too large for this file system",
        errno.EROFS: "read-only file system: write to another folder",
        errno.EACCES: "permission denied: write to a folder you may write to",
        errno.EPERM: "operation not permitted: write to a folder you may write to",
    }
    if exc.errno not in hints:
        return None
    path = exc.filename
    if path is None:
        found = re.search(r"(?:file)?name = '([^']+)'", str(exc))
        path = found.group(1) if found else fallback
    where = f"{path}: " if path else ""
    return f"{where}{os.strerror(exc.errno)}; {hints[exc.errno]} (finished files are kept)"
