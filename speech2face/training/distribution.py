"""Training on several devices: one context for building and compiling a model.

TensorFlow backend -> ``tf.distribute.MirroredStrategy`` over the first ``num_gpu`` GPUs;
JAX backend -> ``keras.distribution.DataParallel``. Multi-host JAX uses the same API after
``keras.distribution.initialize()`` on every host.
"""

from __future__ import annotations

import contextlib

from speech2face.errors import UserError


def distribution_scope(num_gpu: int):
    """Context for building and compiling on several devices (none for num_gpu <= 1).

    Raises:
        UserError: fewer GPUs than asked for, or a backend other than TensorFlow or JAX.
    """
    if num_gpu <= 1:
        return contextlib.nullcontext()
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) < num_gpu:
            raise UserError(f"--num_gpu {num_gpu}: TensorFlow sees {len(gpus)} GPU(s)")
        return tf.distribute.MirroredStrategy([g.name for g in gpus[:num_gpu]]).scope()
    if backend == "jax":
        devices = keras.distribution.list_devices("gpu")
        if len(devices) < num_gpu:
            raise UserError(f"--num_gpu {num_gpu}: JAX sees {len(devices)} GPU(s)")
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices[:num_gpu]))
        return contextlib.nullcontext()
    raise UserError(f"--num_gpu is supported on the tensorflow and jax backends, not {backend}")
