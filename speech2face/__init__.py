"""speech2face: predict a face from a voice (Oh et al., CVPR 2019) with Keras 3."""

__version__ = "0.1.0"

__all__ = ["__version__", "Speech2Face"]


def __getattr__(name):
    # Lazy: importing the package must not import Keras or TensorFlow.
    if name == "Speech2Face":
        from speech2face.inference import Speech2Face

        return Speech2Face
    raise AttributeError(f"module 'speech2face' has no attribute {name!r}")
