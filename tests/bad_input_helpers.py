"""Builders of bad input shared by the bad-input tests (test_bad_input*.py, test_bad_models.py):
the one-line error they all expect, WAV files, a synthetic dataset, tmpfs and read-only
folders."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech2face import audio
from speech2face.dataset import shards
from speech2face.speech2face.data import build
from speech2face.speech2face.data.reader import Dataset
from speech2face.speech2face.data.segments import SegmentConfig

ROOT = Path(__file__).resolve().parents[1]
VOX_A = "av/vox2_a00015/00015.mp4"  # real VoxCeleb2 clips of two speakers
VOX_B = "av/vox2_i00098/00098.mp4"
LIBRI = "speech/libri_103/103-1240-0000.flac"


def one_line_error(err: str, *needles: str) -> str:
    """The `speech2face ...: error:` line of stderr; asserts it has every needle and no
    traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_wav(path: Path, wave, sr: int = 16000, subtype: str = "FLOAT") -> Path:
    """A float WAV of ``wave`` at ``path`` (soundfile)."""
    sf.write(path, np.asarray(wave, np.float32), sr, subtype=subtype)
    return path


def synthetic_dataset(root: Path, n_shards: int = 3, per_shard: int = 2) -> Dataset:
    """A dataset written by the real shard and manifest writers, from made-up segments
    (no clips, no face detection): enough to damage shards and read them back."""
    rng = np.random.default_rng(0)
    config = build.PrepareConfig(segment=SegmentConfig(face_size=16))
    paths = []
    (root / shards.SHARD_DIR).mkdir(parents=True)
    for s in range(n_shards):
        segments = [
            {
                "audio": shards.encode_audio(rng.uniform(-0.3, 0.3, audio.N_SAMPLES)),
                "face": rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                "landmarks": rng.uniform(0, 1, (68, 2)).astype(np.float32),
                "feature": rng.standard_normal(8).astype(np.float32),
                "box": np.zeros(4, np.float32),
                "start": 0.0,
                "end": 6.0,
                "identity": f"id{s}",
                "split": "train",
                "gender": "F",
                "clip": f"clip{s}_{i}",
            }
            for i in range(per_shard)
        ]
        path = shards.shard_path(root, s)
        shards.write_shard(path, segments, [f"clip{s}"], [], "dlib", 8, face_size=16)
        paths.append(path)
    build.write_manifest(root, paths, config, command="test")
    return Dataset(root)


@contextmanager
def tmpfs(path: Path, options: str):
    """A tmpfs mounted at ``path`` (root only; skips elsewhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@contextmanager
def read_only(path: Path):
    """A read-only folder: a read-only tmpfs as root (who ignores permissions), else 0o555."""
    if os.geteuid() == 0:
        with tmpfs(path, "ro,size=64k") as p:
            yield p
        return
    path.mkdir(parents=True)
    path.chmod(0o555)
    try:
        yield path
    finally:
        path.chmod(0o755)


def damage(bundle: Path, name: str, how: str) -> None:
    """Damage ``bundle/name`` in place: truncate it to half, flip a byte near its end, or
    replace it with text that is not JSON."""
    path = bundle / name
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        path.write_bytes(data[:-64] + bytes([data[-64] ^ 0xFF]) + data[-63:])
    elif how == "garbage":
        path.write_text("{not json")
