"""Wav2Pix training: the GAN step on TensorFlow and on JAX (one device and two), exact resume
after a kill, history, grids and the exported run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from speech2face.cli import main
from tests.kill import kill_after_checkpoint

TINY_STEP = """
import keras, numpy as np
from speech2face.models import wav2pix as w
from speech2face.training.wav2pix import GANTrainer, Wav2PixConfig, device_scope

def tiny_batch(rng, n=4):
    return {
        "audio": rng.normal(size=(n, 16000)).astype("float32"),
        "real": np.broadcast_to(  # one flat colour per pair: learnable by a tiny generator
            rng.uniform(-0.8, 0.8, size=(n, 1, 1, 3)), (n, 64, 64, 3)
        ).astype("float32"),
        "wrong": rng.uniform(-1, 1, size=(n, 64, 64, 3)).astype("float32"),
        "label": np.arange(n, dtype="int32") % 3,
    }

def tiny_trainer(num_gpu=0, lr=1e-3):
    keras.utils.set_random_seed(0)
    with device_scope(num_gpu):
        models = (
            w.SpeechEncoder((2, 2, 2, 2, 2, 4), (8, 8), 8),
            w.Generator(64, 2, 8, dropout=0.0, input_gain=100.0),
            w.Discriminator(64, 2, 8),
            w.SpeakerClassifier(3, 4, 8),
        )
        return GANTrainer(*models, Wav2PixConfig(lr_g=lr, lr_d=lr))

def check(num_gpu=0):
    rng = np.random.default_rng(0)
    batch = tiny_batch(rng)
    t = tiny_trainer(num_gpu)
    before = t.arrays()
    logs = {k: float(v) for k, v in t.train_step(batch).items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
    after = t.arrays()
    for g in (0, 2):  # G side and D trainable weights moved
        assert any(not np.array_equal(a, b) for a, b in zip(before[g], after[g]))
    assert any(not np.array_equal(a, b) for a, b in zip(before[1], after[1]))  # BN statistics
    first = logs["g_l1"]
    for _ in range(40):
        logs = {k: float(v) for k, v in t.train_step(batch).items()}
    assert logs["g_l1"] < 0.9 * first, (first, logs)  # it fits a fixed batch
    return logs
"""


def _run(script: str, env: dict, marker: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert marker in out.stdout, out.stdout[-2000:]
    return out.stdout


def test_gan_step_tensorflow():
    namespace: dict = {}
    exec(TINY_STEP, namespace)
    logs = namespace["check"]()
    assert 0 < logs["d_loss"] < 5


@pytest.mark.slow
def test_gan_step_jax_one_and_two_devices():
    pytest.importorskip("jax")
    script = (
        TINY_STEP
        + """
import keras
assert keras.backend.backend() == "jax"
print("one device", check(0))
print("two devices", check(2))
assert len(keras.distribution.distribution().device_mesh.devices.ravel()) == 2
print("jax ok")
"""
    )
    _run(
        script,
        {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
        "jax ok",
    )


@pytest.mark.slow
def test_gan_step_tensorflow_two_replicas():
    script = (
        """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
        + TINY_STEP
        + """
print("two replicas", check(2))
print("mirrored ok")
"""
    )
    _run(script, {"KERAS_BACKEND": "tensorflow"}, "mirrored ok")


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
    assert (out / "history.csv").read_text().splitlines()[1:] != []
    info = json.loads((whole / "run.json").read_text())
    assert info["identities"] == wav2pix_pairs.identities("train") and info["image_size"] == 64
    assert sorted(p.name for p in (whole / "grids").iterdir())  # a grid per epoch
    assert (whole / "logs").is_dir()
