"""Where the real sample data lives (clips and photos listed in its manifest.csv)."""

from __future__ import annotations

import os
from pathlib import Path

from speech2face.errors import UserError

SAMPLES_ENV = "SPEECH2FACE_SAMPLES"


def local_samples(path: str | os.PathLike | None = None) -> Path:
    """Locate a local copy of the sample data.

    Looks at ``path``, then ``$SPEECH2FACE_SAMPLES``, then ``../shared/data`` beside the
    current folder and beside the source checkout.

    Returns:
        The folder holding ``manifest.csv``.
    Raises:
        UserError: no folder with a manifest.csv was found.
    """
    here = Path(__file__).resolve().parents[1]
    candidates = [
        path,
        os.environ.get(SAMPLES_ENV),
        Path.cwd().parent / "shared" / "data",
        here.parent / "shared" / "data",
    ]
    for cand in candidates:
        if cand and (Path(cand) / "manifest.csv").is_file():
            return Path(cand)
    raise UserError(
        f"sample data not found: pass --data DIR or set {SAMPLES_ENV} to the folder "
        "that holds manifest.csv"
    )
