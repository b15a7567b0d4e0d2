"""Wav2Pix training: the GAN step on TensorFlow and on JAX (one device and two), exact resume
after a kill, history, grids and the exported run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from speech2face.cli import main
from tests.kill import kill_after_checkpoint

CHECKS = Path(__file__).with_name("wav2pix_checks.py")


def _run(env: dict, devices: int) -> None:
    """Run the GAN-step check in a fresh interpreter with ``env`` on ``devices`` devices."""
    out = subprocess.run(
        [sys.executable, str(CHECKS), "gan_step", str(devices)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    backend = env.get("KERAS_BACKEND", "tensorflow")
    assert f"wav2pix {backend} {devices} ok" in out.stdout, out.stdout[-2000:]


@pytest.mark.slow
def test_gan_step_tensorflow():
    from tests.wav2pix_checks import check_gan_step

    logs = check_gan_step()
    assert 0 < logs["d_loss"] < 5


@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2])
def test_gan_step_jax(devices):
    pytest.importorskip("jax")
    flags = "--xla_force_host_platform_device_count=2"
    _run({"KERAS_BACKEND": "jax", "XLA_FLAGS": flags}, devices)


@pytest.mark.slow
def test_gan_step_tensorflow_two_replicas():
    _run({"KERAS_BACKEND": "tensorflow"}, 2)


def _weights(run):
    from speech2face.models import load_parts

    return [
        w
        for part in ("generator", "speech_encoder", "discriminator")
        for w in load_parts(run, part).get_weights()
    ]


@pytest.mark.slow
def test_kill_and_resume_exact(wav2pix_pairs, tmp_path):
    args = [
        "wav2pix",
        "train",
        "--data",
        str(wav2pix_pairs.root),
        "--steps",
        "6",
        "--checkpoint-every",
        "2",
        "--batch-size",
        "4",
    ]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0
    out = tmp_path / "killed"
    killed_at = kill_after_checkpoint([*args, "-o", str(out)], out / "checkpoint" / "state.json")
    assert 2 <= killed_at < 6 and not (out / "run.json").exists()
    assert main([*args, "-o", str(out)]) == 0
    for a, b in zip(_weights(tmp_path / "whole"), _weights(out), strict=True):
        np.testing.assert_array_equal(a, b)  # weights, optimizers, BN, SN, dropout seeds, data
    whole = tmp_path / "whole"
    hist = (whole / "history.csv").read_text().splitlines()
    assert len(hist) == 4 and hist[0].startswith("step,epoch,d_loss,g_loss")
    # the resumed run logged the same steps and losses (all but the speed column)
    resumed = (out / "history.csv").read_text().splitlines()
    assert [r.split(",")[:-1] for r in resumed] == [r.split(",")[:-1] for r in hist]
    info = json.loads((whole / "run.json").read_text())
    assert info["identities"] == wav2pix_pairs.identities("train") and info["image_size"] == 64
    step, epoch = hist[1].split(",")[:2]  # the first checkpoint row: step 2
    per_epoch = round(int(step) / float(epoch))
    from speech2face.wav2pix.train import grid_name

    expected = {grid_name(s, per_epoch) for s in range(1, 7) if s % per_epoch == 0 or s == 6}
    assert {p.name for p in (whole / "grids").iterdir()} == expected  # one per epoch + last
    assert (whole / "logs").is_dir()


def test_final_grid_never_overwrites_the_last_epochs():
    from speech2face.wav2pix.train import grid_name

    assert grid_name(8, 4) == "epoch_002.png"
    assert grid_name(7, 4) == "step_000007.png" != grid_name(4, 4) == "epoch_001.png"


@pytest.mark.slow
def test_pretrained_speaker_encoder_conditions_the_generator(wav2pix_pairs, tmp_path):
    """--speech-encoder ge2e: the frozen GE2E embedding (+ a trained Dense) drives the GAN;
    the exported run predicts, and GE2E's weights are the shipped ones after training."""
    from speech2face import Wav2Pix
    from speech2face.voices import ge2e

    out = tmp_path / "run"
    argv = ["wav2pix", "train", "--data", str(wav2pix_pairs.root), "-o", str(out)]
    assert main([*argv, "--steps", "3", "--checkpoint-every", "3", "--speech-encoder", "ge2e"]) == 0
    model = Wav2Pix.load(out)
    partial = model.encoder.get_layer("ge2e").get_layer("ge2e_partial_embeddings").layer
    shipped = ge2e.load_weights(ge2e.build_partial_encoder())
    for name in ("ge2e_lstm1", "ge2e_linear"):  # frozen: not moved by the GAN
        for a, b in zip(
            partial.get_layer(name).get_weights(),
            shipped.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    wave = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    image, embedding = model.predict(wave)
    assert image.shape == (64, 64, 3) and embedding.shape == (128,)
