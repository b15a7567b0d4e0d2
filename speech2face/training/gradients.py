"""Gradients of a loss with auxiliary outputs on the JAX or TensorFlow backend: the only
backend-specific piece of a hand-written training step (the Wav2Pix GAN's)."""

from __future__ import annotations

from speech2face.errors import UserError


def value_and_grad(fn):
    """``fn(params, *args) -> (loss, aux)`` -> ``g(params, *args) -> ((loss, aux), grads)``.

    The only backend-specific piece of the step: ``jax.value_and_grad`` on JAX, a
    ``tf.GradientTape`` on TensorFlow.

    Raises:
        UserError: another Keras backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn, has_aux=True)
    if backend == "tensorflow":
        import tensorflow as tf

        def wrapped(params, *args):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, aux = fn(params, *args)
            grads = tape.gradient(loss, params)
            return (loss, aux), [
                tf.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)
            ]

        return wrapped
    raise UserError(f"Wav2Pix trains on the tensorflow and jax backends, not {backend}")
