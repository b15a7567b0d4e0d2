"""Checks that run on the JAX backend, in a process started with KERAS_BACKEND=jax.

    KERAS_BACKEND=jax python tests/jax_checks.py warp|models

Each check raises AssertionError on failure; the script prints "jax <check> ok" when all
passed. ``tests/test_jax_backend.py`` runs it (the test process itself runs TensorFlow).
"""

from __future__ import annotations

import sys

import numpy as np


def check_warp() -> None:
    """The warp leaves an image unchanged for equal points and has finite, non-zero grads."""
    import jax
    import jax.numpy as jnp

    from speech2face.models.warp import sparse_image_warp

    rng = np.random.default_rng(0)
    img = rng.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    src = rng.uniform(8, 24, (1, 5, 2)).astype(np.float32)
    out, _ = sparse_image_warp(img, src, src)
    assert np.abs(np.asarray(out) - img).max() < 1e-4

    def loss(dest):
        return jnp.sum(sparse_image_warp(img, src, dest)[0] * img[..., ::-1])

    grad = np.asarray(jax.grad(loss)(src + 1.0))
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def check_models() -> None:
    """Spectrogram equals the numpy STFT; decoder predicts; a voice-encoder step learns."""
    import keras

    from speech2face import audio
    from speech2face.models.face_decoder import build_face_decoder
    from speech2face.models.spectrogram import Spectrogram
    from speech2face.models.voice_encoder import build_voice_encoder
    from speech2face.training.losses import Speech2FaceLoss

    assert keras.backend.backend() == "jax", keras.backend.backend()
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal((2, audio.N_SAMPLES))).astype("float32")
    linear = np.asarray(Spectrogram(power=1.0)(wave))
    ref = audio.stft(wave)
    assert np.abs(linear[..., 0] - ref.real).max() < 1e-4
    assert np.abs(linear[..., 1] - ref.imag).max() < 1e-4

    decoder = build_face_decoder(128, np.full((68, 2), 0.5, "float32"), "small")
    out = decoder.predict(rng.standard_normal((3, 128)).astype("float32"), verbose=0)
    assert out["image"].shape == (3, 64, 64, 3) and np.isfinite(out["image"]).all()

    voice = build_voice_encoder(128, "small")
    voice.compile(
        keras.optimizers.Adam(1e-3, beta_1=0.5, epsilon=1e-4),
        loss=Speech2FaceLoss(decoder.get_layer("f_dec").get_weights()),
    )
    target = rng.standard_normal((2, 128)).astype("float32")
    first = float(voice.train_on_batch(wave, target))
    for _ in range(3):
        last = float(voice.train_on_batch(wave, target))
    assert np.isfinite(last) and last < first, (first, last)


CHECKS = {"warp": check_warp, "models": check_models}

if __name__ == "__main__":
    name = sys.argv[1]
    CHECKS[name]()
    print(f"jax {name} ok")
