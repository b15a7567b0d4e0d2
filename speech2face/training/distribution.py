"""Training on several devices: one context for building and compiling a model.

TensorFlow backend -> ``tf.distribute.MirroredStrategy`` over the first ``num_gpu`` GPUs;
JAX backend -> ``keras.distribution.DataParallel``. Several hosts (JAX only):
:func:`initialize_hosts` calls ``keras.distribution.initialize()`` on every host (which
starts ``jax.distributed``), then :func:`distribution_scope` with ``hosts=True`` spreads the
model over every device of every host; each host feeds its own share of the global batch
(:class:`speech2face.speech2face.data.batches.SegmentBatches` with
``process_index``/``process_count``).
Where no GPU is visible, logical CPU devices stand in (tests make two: TensorFlow's logical
device configuration, JAX's ``--xla_force_host_platform_device_count``).
"""

from __future__ import annotations

import contextlib

from speech2face.errors import UserError


def initialize_hosts() -> tuple[int, int]:
    """Join the other hosts of a multi-host JAX run: ``keras.distribution.initialize()``.

    The coordinator address, the number of processes and this process's id come from
    ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (the coordinator first, e.g. ``10.0.0.1:1234``),
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``, or from the
    cluster environment JAX recognises (SLURM, Cloud TPU, ...). Call it once, before any
    other JAX work. Several processes on one CPU machine work too (JAX's CPU collectives).

    Returns:
        (process_index, process_count) of this host (``jax.process_index()``, ...).
    Raises:
        UserError: the backend is not JAX, or the hosts cannot be joined.
    """
    import keras

    if keras.backend.backend() != "jax":
        raise UserError(
            f"several hosts need the JAX backend (KERAS_BACKEND=jax), not {keras.backend.backend()}"
        )
    import jax

    try:
        keras.distribution.initialize()
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"cannot join the other hosts: {exc}") from None
    return jax.process_index(), jax.process_count()


def distribution_scope(num_gpu: int, hosts: bool = False):
    """Context for building and compiling on several devices (none for num_gpu <= 1).

    Args:
        num_gpu: devices of this host to use (all of them with ``hosts``).
        hosts: data parallel over every device of every host (after
            :func:`initialize_hosts`); the input is already split by host.
    Raises:
        UserError: fewer GPUs than asked for, or a backend other than TensorFlow or JAX.
    """
    import keras

    if hosts:
        devices = keras.distribution.list_devices()  # every host's, after initialize()
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        )
        return contextlib.nullcontext()
    if num_gpu <= 1:
        return contextlib.nullcontext()

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
