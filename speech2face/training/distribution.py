"""Training on several devices: one context for building and compiling a model.

TensorFlow backend -> ``tf.distribute.MirroredStrategy`` over the first ``num_gpu`` GPUs;
JAX backend -> ``keras.distribution.DataParallel``. Multi-host JAX uses the same API after
``keras.distribution.initialize()`` on every host. Where no GPU is visible, logical CPU
devices stand in (tests make two: TensorFlow's logical device configuration, JAX's
``--xla_force_host_platform_device_count``).
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

        gpus = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        if len(gpus) < num_gpu:
            raise UserError(f"--num_gpu {num_gpu}: TensorFlow sees {len(gpus)} device(s)")
        return tf.distribute.MirroredStrategy([g.name for g in gpus[:num_gpu]]).scope()
    if backend == "jax":
        try:
            devices = keras.distribution.list_devices("gpu")
        except RuntimeError:  # no GPU platform at all
            devices = []
        devices = devices or keras.distribution.list_devices("cpu")
        if len(devices) < num_gpu:
            raise UserError(f"--num_gpu {num_gpu}: JAX sees {len(devices)} device(s)")
        # devices= by keyword: the first positional argument is a DeviceMesh
        distribution = keras.distribution.DataParallel(devices=devices[:num_gpu])
        keras.distribution.set_distribution(distribution)
        return contextlib.nullcontext()
    raise UserError(f"--num_gpu is supported on the tensorflow and jax backends, not {backend}")
