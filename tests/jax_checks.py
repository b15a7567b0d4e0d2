"""Checks that run on the JAX backend, in a process started with KERAS_BACKEND=jax.

    KERAS_BACKEND=jax python tests/jax_checks.py warp|models
    KERAS_BACKEND=jax python tests/jax_checks.py ge2e SAMPLES
    KERAS_BACKEND=jax KERAS_DISTRIBUTION_...=... python tests/jax_checks.py hosts DATA DEC OUT

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

    from speech2face.speech2face.models.warp import sparse_image_warp

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
    from speech2face.speech2face.models.face_decoder import build_face_decoder
    from speech2face.speech2face.models.spectrogram import Spectrogram
    from speech2face.speech2face.models.voice_encoder import build_voice_encoder
    from speech2face.speech2face.training.losses import Speech2FaceLoss

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


def check_hosts() -> None:
    """One of several processes (``KERAS_DISTRIBUTION_*`` set by the caller) of a multi-host
    `train` run: ``keras.distribution.initialize()``, this host's share of the batches,
    data-parallel steps. Prints the rows of this host's first batch and a checksum of the
    trained weights (equal on every host when the gradients were combined)."""
    import json

    import jax

    from speech2face.speech2face.data.batches import SegmentBatches
    from speech2face.speech2face.data.reader import Dataset
    from speech2face.speech2face.training.config import TrainConfig
    from speech2face.speech2face.training.voice import train_voice_encoder

    data, decoder, out = sys.argv[2:5]
    config = TrainConfig(
        steps=2, checkpoint_every=2, batch_size=4, hosts=True, precise_bn=False, readers=1
    )
    model = train_voice_encoder(data, decoder, out, config)
    assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
    host = SegmentBatches(
        Dataset(data), "train", 2, process_index=jax.process_index(), process_count=2
    )
    print("rows", json.dumps(host.batch_rows(0, 0)))
    total = sum(float(np.sum(np.asarray(w, np.float64))) for w in model.get_weights())
    print(f"weights {total:.10e}")


def check_ge2e() -> None:
    """GE2E on JAX reproduces Resemblyzer's reference embedding of the first sample clip."""
    import json
    from pathlib import Path

    from speech2face import audio
    from speech2face.voices import ge2e

    here = Path(__file__).with_name("data")
    clip = json.loads((here / "ge2e_reference.json").read_text())["clips"][0]["clip"]
    wave = audio.load_audio(Path(sys.argv[2]) / clip)
    reference = np.load(here / "ge2e_reference.npy")[0]
    assert np.abs(ge2e.embed_utterance(wave) - reference).max() <= 1e-4
    window = ge2e.build_window_encoder(audio.N_SAMPLES)
    part = ge2e.normalize_volume(wave[: audio.N_SAMPLES])
    expected = ge2e.embed_utterance(part, preprocessed=True)
    got = np.asarray(window.predict_on_batch(wave[None, : audio.N_SAMPLES]))[0]
    assert np.abs(got - expected).max() <= 1e-4


CHECKS = {"warp": check_warp, "models": check_models, "hosts": check_hosts, "ge2e": check_ge2e}

if __name__ == "__main__":
    name = sys.argv[1]
    CHECKS[name]()
    print(f"jax {name} ok")
