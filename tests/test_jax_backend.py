"""The models run and train on the JAX backend (what the GPU machines have), in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = """
import keras, numpy as np
assert keras.backend.backend() == "jax"
from speech2face import audio
from speech2face.training.losses import Speech2FaceLoss
from speech2face.models.face_decoder import build_face_decoder
from speech2face.models.spectrogram import Spectrogram
from speech2face.models.voice_encoder import build_voice_encoder

rng = np.random.default_rng(0)
wave = (0.1 * rng.standard_normal((2, audio.N_SAMPLES))).astype("float32")
lin = np.asarray(Spectrogram(power=1.0)(wave))
ref = audio.stft(wave)
assert np.abs(lin[..., 0] - ref.real).max() < 1e-4 and np.abs(lin[..., 1] - ref.imag).max() < 1e-4

decoder = build_face_decoder(128, np.full((68, 2), 0.5, "float32"), "small")
out = decoder.predict(rng.standard_normal((3, 128)).astype("float32"), verbose=0)
assert out["image"].shape == (3, 64, 64, 3) and np.isfinite(out["image"]).all()

voice = build_voice_encoder(128, "small")
voice.compile(keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=1e-4),
              loss=Speech2FaceLoss(decoder.get_layer("f_dec").get_weights()))
target = rng.standard_normal((2, 128)).astype("float32")
first = float(voice.train_on_batch(wave, target))
for _ in range(3):
    last = float(voice.train_on_batch(wave, target))
assert np.isfinite(last) and last < first, (first, last)
print("jax models ok", first, last)
"""


WARP_SCRIPT = """
import numpy as np, jax, jax.numpy as jnp
from speech2face.models.warp import sparse_image_warp
rng = np.random.default_rng(0)
img = rng.uniform(size=(1, 32, 32, 3)).astype(np.float32)
src = rng.uniform(8, 24, (1, 5, 2)).astype(np.float32)
out, _ = sparse_image_warp(img, src, src)
assert np.abs(np.asarray(out) - img).max() < 1e-4
g = jax.grad(lambda d: jnp.sum(sparse_image_warp(img, src, d)[0] * img[..., ::-1]))(src + 1.0)
assert np.all(np.isfinite(np.asarray(g))) and np.abs(np.asarray(g)).max() > 0
print("jax ok")
"""


def _run_on_jax(script: str, marker: str) -> None:
    """Run ``script`` in a fresh interpreter with KERAS_BACKEND=jax; it must print ``marker``."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert marker in out.stdout


def test_warp_on_jax():
    _run_on_jax(WARP_SCRIPT, "jax ok")


def test_models_train_on_jax():
    _run_on_jax(SCRIPT, "jax models ok")
