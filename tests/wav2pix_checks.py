"""The Wav2Pix GAN step on a tiny configuration, run in-process (TensorFlow) or in a process
of its own for JAX and for several devices:

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python tests/wav2pix_checks.py gan_step 2
    python tests/wav2pix_checks.py gan_step 2        # TensorFlow, two logical CPUs

The check raises AssertionError on failure and prints "wav2pix <backend> <n> ok".
"""

from __future__ import annotations

import sys

import numpy as np


def tiny_batch(rng: np.random.Generator, n: int = 4) -> dict:
    """Random speech, one flat colour per true face, random mismatched faces."""
    colours = rng.uniform(-0.8, 0.8, size=(n, 1, 1, 3))
    return {
        "audio": rng.normal(size=(n, 16000)).astype("float32"),
        "real": np.broadcast_to(colours, (n, 64, 64, 3)).astype("float32"),
        "wrong": rng.uniform(-1, 1, size=(n, 64, 64, 3)).astype("float32"),
        "label": np.arange(n, dtype="int32") % 3,
    }


def tiny_trainer(num_gpu: int = 0, lr: float = 1e-3, lr_g: float | None = None):
    """A GANTrainer of tiny models (3 identities, 8-D embedding), built on ``num_gpu``
    devices when more than one; ``lr_g`` (default ``lr``) is the generator's and the speech
    encoder's learning rate."""
    import keras

    from speech2face.training.distribution import distribution_scope
    from speech2face.wav2pix import model as w
    from speech2face.wav2pix.config import Wav2PixConfig
    from speech2face.wav2pix.gan import GANTrainer

    keras.utils.set_random_seed(0)
    with distribution_scope(num_gpu):
        models = (
            w.SpeechEncoder((2, 2, 2, 2, 2, 4), (8, 8), 8),
            w.Generator(64, 2, 8, dropout=0.0, input_gain=100.0),
            w.Discriminator(64, 2, 8),
            w.SpeakerClassifier(3, 4, 8),
        )
        return GANTrainer(*models, Wav2PixConfig(lr_g=lr if lr_g is None else lr_g, lr_d=lr))


def check_gan_step(num_gpu: int = 0) -> dict:
    """One step moves every part and gives finite losses; 40 steps on one batch teach the
    speaker classifier and the discriminator (the generator's learning is tested on real
    faces in tests/test_wav2pix_learning.py)."""
    rng = np.random.default_rng(0)
    batch = tiny_batch(rng)
    trainer = tiny_trainer(num_gpu)
    before = trainer.arrays()
    logs = {k: float(v) for k, v in trainer.train_step(batch).items()}
    assert all(np.isfinite(v) for v in logs.values()), logs
    after = trainer.arrays()
    for group in (0, 1, 2):  # G-side weights, its BatchNorm statistics, D weights
        changed = [
            not np.array_equal(a, b) for a, b in zip(before[group], after[group], strict=True)
        ]
        assert any(changed), f"state group {group} did not change"
    first = logs
    for _ in range(40):
        logs = {k: float(v) for k, v in trainer.train_step(batch).items()}
    assert logs["g_speaker_ce"] < 0.5 * first["g_speaker_ce"], (first, logs)
    assert logs["speaker_accuracy"] == 1.0, logs
    assert logs["d_real"] - logs["d_wrong"] > first["d_real"] - first["d_wrong"], (first, logs)
    # The discriminator learns: against a generator that does not move (its learning rate
    # 0) its loss on the batch falls. With both learning, whether d_loss ends below its
    # first value is the game's outcome, not the step's: it flipped between machines (two
    # JAX devices: 0.83 -> 0.99, the generator fooling it, d_fake 0.89).
    d_only = tiny_trainer(num_gpu, lr_g=0.0)
    d_first = {k: float(v) for k, v in d_only.train_step(batch).items()}
    for _ in range(40):
        d_logs = {k: float(v) for k, v in d_only.train_step(batch).items()}
    assert d_logs["d_loss"] < 0.5 * d_first["d_loss"], (d_first, d_logs)
    assert d_logs["d_real"] > d_logs["d_fake"] and d_logs["d_real"] > d_logs["d_wrong"], d_logs
    return logs


if __name__ == "__main__":
    devices = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    import keras

    if keras.backend.backend() == "tensorflow" and devices > 1:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices
        )
    {"gan_step": check_gan_step}[sys.argv[1]](devices)
    print(f"wav2pix {keras.backend.backend()} {devices} ok")
