"""The real sample data: where a local copy lives, and a registry to download it by sha256.

The registry (``sample_registry.csv``, shipped with the package) lists every sample file
with its source URL (``https://github.com/<repo>/raw/<commit>/<path>``; ``archive.zip::member``
names a file inside a zip), size and sha256. :func:`fetch_samples` downloads the files the
demo needs into a cache, checks each sha256 and keeps nothing that fails the check.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from speech2face.csvfiles import open_csv
from speech2face.dataset.shards import sha256
from speech2face.errors import UserError

log = logging.getLogger(__name__)

SAMPLES_ENV = "SPEECH2FACE_SAMPLES"
REGISTRY = Path(__file__).with_name("sample_registry.csv")
BASE_URL = "https://github.com"
DEMO_KINDS = ("talking_face", "sidecar_audio", "face_photo", "face_video")
MANIFEST_COLUMNS = ("path", "kind", "identity", "gender", "split", "has_audio", "duration_s")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "speech2face" / "samples"


def local_samples(path: str | os.PathLike | None = None) -> Path:
    """Locate a local copy of the sample data.

    Looks at ``path``, then ``$SPEECH2FACE_SAMPLES``, then ``../shared/data`` beside the
    current folder and beside the source checkout.

    Returns:
        The folder holding ``manifest.csv``.
    Raises:
        UserError: ``path`` was given but holds no manifest.csv, or nothing was found.
    """
    if path is not None:
        if not (Path(path) / "manifest.csv").is_file():
            raise UserError(f"{path}: no manifest.csv there; is it the sample data folder?")
        return Path(path)
    here = Path(__file__).resolve().parents[1]
    candidates = [
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


def registry_rows(manifest_csv: str | os.PathLike) -> list[dict]:
    """Registry rows built from a sample manifest.csv (source_repo/commit/path, sha256)."""
    rows = []
    with open_csv(manifest_csv) as f:
        for row in csv.DictReader(f):
            source, repo = row.get("source_path", ""), row.get("source_repo", "")
            path, _, member = source.partition("::")
            url = ""
            if "/" in repo and " " not in repo:  # a GitHub owner/name
                url = f"{{base}}/{repo}/raw/{row['source_commit']}/{path}"
            rows.append(
                {
                    **{k: row.get(k, "") for k in MANIFEST_COLUMNS},
                    "url": url,
                    "member": member,
                    "sha256": row.get("sha256", ""),
                    "bytes": row.get("bytes", ""),
                }
            )
    return rows


def read_registry(path: str | os.PathLike = REGISTRY) -> list[dict]:
    """The rows of a registry CSV (see :func:`registry_rows`)."""
    with open_csv(path) as f:
        return list(csv.DictReader(f))


def _download(url: str, target: Path) -> None:
    """Fetch ``url`` to ``target`` atomically (a .part file renamed when complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
            shutil.copyfileobj(response, f)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise UserError(f"cannot download {url}: {exc}") from None
    os.replace(part, target)


def fetch_samples(
    cache: str | os.PathLike = CACHE,
    rows: list[dict] | None = None,
    kinds=DEMO_KINDS,
    base_url: str = BASE_URL,
) -> Path:
    """Download the sample files of ``kinds`` into ``cache`` and check their sha256.

    Files already present with the right sha256 are not fetched again. A file whose
    sha256 differs is deleted and reported.

    Returns:
        ``cache``, holding the files at their registry paths and a ``manifest.csv``.
    Raises:
        UserError: a download failed or a checksum did not match (the message names the
            file, the expected and the actual sha256).
    """
    from tqdm import tqdm

    from speech2face.dataset.sources.folder import inside

    cache = Path(cache)
    rows = [
        r
        for r in (rows if rows is not None else read_registry())
        if r["kind"] in kinds and r["url"]
    ]
    archives = Path(tempfile.mkdtemp(prefix="speech2face-zips-"))
    try:
        for row in tqdm(rows, desc="samples", unit="file", disable=len(rows) < 3):
            target = inside(cache, row["path"])
            if target.is_file() and sha256(target) == row["sha256"]:
                continue
            url = row["url"].format(base=base_url.rstrip("/"))
            if row["member"]:
                archive = archives / hashlib.sha1(url.encode()).hexdigest()
                if not archive.is_file():
                    _download(url, archive)
                try:
                    with zipfile.ZipFile(archive) as z, z.open(row["member"]) as src:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                except (zipfile.BadZipFile, KeyError) as exc:
                    raise UserError(f"{url}: cannot extract {row['member']} ({exc})") from None
            else:
                _download(url, target)
            actual = sha256(target)
            if actual != row["sha256"]:
                target.unlink()
                raise UserError(
                    f"{row['path']}: sha256 mismatch (expected {row['sha256']}, "
                    f"got {actual}) from {url}; the file was not kept"
                )
    finally:
        shutil.rmtree(archives, ignore_errors=True)
    with open(cache / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return cache


def sample_data(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """A local copy if there is one (:func:`local_samples`), else the downloaded cache."""
    try:
        return local_samples(path)
    except UserError:
        if path is not None or not download:
            raise
    log.info("no local sample data: downloading into %s", CACHE)
    return fetch_samples(CACHE)
