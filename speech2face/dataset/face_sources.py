"""Faces without voices (photos, silent face videos) for training the face decoder.

A source is a manifest CSV (rows of kind ``face_photo`` / ``face_video`` with a ``split``
column) or a folder ``ROOT/<identity>/<file>`` of images and videos (split by identity).
Every face goes through the same detect / align / landmark / feature code as the
dataset's segments.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from speech2face import faces, video
from speech2face.csvfiles import open_csv
from speech2face.dataset.sources import MEDIA_SUFFIXES, split_of
from speech2face.dataset.sources.folder import inside
from speech2face.errors import UserError
from speech2face.faces import canonical

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
KINDS = ("face_photo", "face_video")


def list_face_files(path: str | os.PathLike) -> list[tuple[Path, str, str]]:
    """(file, identity, split) of every face image or video of a source.

    Raises:
        UserError: ``path`` is neither a CSV nor a folder.
    """
    path = Path(path)
    items = []
    if path.suffix.lower() == ".csv" and path.is_file():
        with open_csv(path) as f:
            for row in csv.DictReader(f):
                if row.get("kind") in KINDS:
                    file = inside(path.parent, row["path"])
                    items.append(
                        (file, row["identity"], row.get("split") or split_of(row["identity"]))
                    )
    elif path.is_dir():
        for file in sorted(path.glob("*/*")):
            if file.suffix.lower() in IMAGE_SUFFIXES + MEDIA_SUFFIXES:
                items.append((file, file.parent.name, split_of(file.parent.name)))
    else:
        raise UserError(f"{path}: not a face source (a manifest CSV or a folder <identity>/<file>)")
    return items


def _frames(file: Path, count: int) -> list[np.ndarray]:
    """The image, or ``count`` frames of a video evenly spaced in time."""
    if file.suffix.lower() in IMAGE_SUFFIXES:
        return [faces.read_image(file)]
    info = video.video_info(file)
    if info is None:
        return []
    times = [(i + 0.5) * info.duration / count for i in range(count)]
    return [frame for _, frame in video.read_frames(file, times)]


def _most_canonical(found: list, keep: int) -> list:
    """The ``keep`` aligned faces with the lowest canonical score, in their original order."""
    if len(found) <= keep:
        return found
    scores = canonical.canonical_score(np.stack([f.landmarks for f in found]))
    best = sorted(np.argsort(scores, kind="stable")[:keep])
    return [found[i] for i in best]


def collect_faces(
    path,
    encoder,
    split: str | None = "train",
    frames_per_video: int = 3,
    detector: str = "hog",
    size: int = faces.CROP_SIZE,
    candidates: int = 1,
) -> dict[str, np.ndarray]:
    """Aligned faces, landmarks and features of one split of a face source.

    From each video, ``frames_per_video * candidates`` frames evenly spaced in time are
    read and the ``frames_per_video`` most frontal and neutral faces kept
    (:func:`speech2face.faces.canonical.canonical_score`; Cole et al. train on canonical
    faces). Unreadable files and frames without a face are logged and skipped.

    Returns:
        {"face": (N, size, size, 3) uint8, "landmarks": (N, 68, 2) float32 crop pixels,
        "feature": (N, dim) float32, "identity": (N,) str, "split": (N,) str}.
    """
    from tqdm import tqdm

    out = {"face": [], "landmarks": [], "feature": [], "identity": [], "split": []}
    files = [x for x in list_face_files(path) if split is None or x[2] == split]
    for file, identity, file_split in tqdm(
        files, desc="faces", unit="file", disable=len(files) < 5
    ):
        try:
            frames = _frames(file, frames_per_video * max(1, candidates))
        except UserError as exc:
            log.warning("skipped %s", exc)
            continue
        found = [faces.find_face(frame, detector, size=size) for frame in frames]
        if any(face is None for face in found):
            log.info("no face in %d of %d frames of %s", found.count(None), len(found), file)
        found = _most_canonical([f for f in found if f is not None], frames_per_video)
        for face in found:
            out["face"].append(face.image)
            out["landmarks"].append(face.landmarks)
            out["feature"].append(encoder.encode(face.image[None], face.landmarks[None])[0])
            out["identity"].append(identity)
            out["split"].append(file_split)
    if not out["face"]:
        return {
            "face": np.zeros((0, size, size, 3), np.uint8),
            "landmarks": np.zeros((0, 68, 2), np.float32),
            "feature": np.zeros((0, encoder.dim), np.float32),
            "identity": np.zeros(0, object),
            "split": np.zeros(0, object),
        }
    return {
        k: np.asarray(v, dtype=object if k in ("identity", "split") else None)
        for k, v in out.items()
    }
