"""Shared fixtures: the real sample data in ../shared/data (or $SPEECH2FACE_SAMPLES).

Tiers: tests marked ``slow`` (real-data integration, more than a second or two each) run in
the full suite; ``pytest -m "not slow"`` is the fast tier. Without the sample data the tests
that need it are skipped, except under CI (``CI=1``), where a missing copy is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import under_ci

ROOT = Path(__file__).resolve().parents[1]


def sample_root() -> Path | None:
    env = os.environ.get("SPEECH2FACE_SAMPLES")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "data"]:
        if (cand / "manifest.csv").is_file():
            return cand
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = sample_root()
    if root is None:
        message = "real sample data not found: set SPEECH2FACE_SAMPLES or put shared/data beside"
        if under_ci():
            pytest.fail(f"{message} (CI: the sample data is required)")
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def prepared(data_dir, tmp_path_factory):
    """The dataset of every talking-face clip of the sample data (train and test splits)."""
    from speech2face.dataset.sources import folder
    from speech2face.speech2face.data.build import PrepareConfig, prepare
    from speech2face.speech2face.data.reader import Dataset

    out = tmp_path_factory.mktemp("dataset")
    prepare(folder.manifest_clips(data_dir / "manifest.csv"), out, PrepareConfig(workers=2))
    return Dataset(out)


@pytest.fixture(scope="session")
def decoder_run(prepared, tmp_path_factory):
    """A face decoder trained for one epoch on ``prepared`` (enough for the voice side)."""
    from speech2face.cli import main

    out = tmp_path_factory.mktemp("decoder")
    assert (
        main(["train-decoder", "--data", str(prepared.root), "-o", str(out), "--epochs", "1"]) == 0
    )
    return out


WAV2PIX_CLIPS = (  # five identities: GRID (3 s), MEAD, VoxCeleb2, a silent video + sidecar wav
    "av/grid_spk_bbaf2n/bbaf2n.mpg",
    "av/grid_spk_lbbc2a/lbbc2a.mpg",
    "av/mead_M030/M030_sad_3_001.mp4",
    "av/vox2_a00015/00015.mp4",
    "av/edtalk_mouth_source/mouth_source.mp4",
)


@pytest.fixture(scope="session")
def wav2pix_pairs(data_dir, tmp_path_factory):
    """A Wav2Pix pair dataset (seen-identity split, 64 px) of five real sample clips."""
    from speech2face.dataset.sources import folder
    from speech2face.dataset.splits import apply_split_mode
    from speech2face.wav2pix.config import PairConfig
    from speech2face.wav2pix.pair_reader import PairDataset
    from speech2face.wav2pix.pair_shards import build_pairs

    clips = [
        c
        for c in folder.manifest_clips(data_dir / "manifest.csv")
        if str(Path(c.media).relative_to(data_dir)) in WAV2PIX_CLIPS
    ]
    out = tmp_path_factory.mktemp("wav2pix_pairs")
    clips = apply_split_mode(clips, "seen", 0.3, window=1.0)
    build_pairs(clips, out, PairConfig(image_size=64), workers=2)
    return PairDataset(out)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    """An untrained bundle with tiny models, written by the real bundle writer (the
    bad-input tests damage copies of it)."""
    from speech2face.speech2face.bundle import write_bundle
    from speech2face.speech2face.models.face_decoder import build_face_decoder
    from speech2face.speech2face.models.voice_encoder import build_voice_encoder

    root = tmp_path_factory.mktemp("tiny")
    mean = np.random.default_rng(0).uniform(0.3, 0.7, (68, 2)).astype(np.float32)
    np.save(root / "mean.npy", mean)
    encoder = build_voice_encoder(8, "small", width=1 / 16, fc_units=16)
    decoder = build_face_decoder(8, mean, "small", f_dec_units=16, landmark_units=16)
    write_bundle(
        root / "bundle",
        encoder,
        decoder,
        root / "mean.npy",
        face_encoder="dlib",
        feature_dim=8,
        train={},
        steps=0,
        dataset=root,
        decoder_run=root,
    )
    return root / "bundle"
