"""speech2face: predict a face from a voice (Oh et al., CVPR 2019) with Keras 3.

    import speech2face

    speech2face.prepare("data/clips", "runs/dataset")                    # clips -> dataset
    speech2face.prepare_faces("data/utkface.csv", "runs/utkface")        # photos -> faces
    speech2face.train_decoder("runs/dataset", "runs/decoder", faces=["runs/utkface"])
    speech2face.pretrain("data/speech", "runs/pretrain")                 # voice -> speaker
    speech2face.train("runs/dataset", "runs/decoder", "runs/bundle", init="runs/pretrain")
    speech2face.evaluate("runs/dataset", "runs/bundle", "runs/report")   # metrics + pictures
    image, feature = speech2face.load_model("runs/bundle").predict("voice.wav")
    image, feature = speech2face.load_model().predict("voice.wav")       # the shipped model
    image, embedding = speech2face.load_wav2pix("runs/wav2pix").predict("voice.wav")  # Wav2Pix

See :mod:`speech2face.api`. The names are loaded on first use, so ``import speech2face``
imports neither Keras, TensorFlow nor dlib.
"""

__version__ = "0.1.0"

_API = (
    "prepare",
    "prepare_faces",
    "train_decoder",
    "pretrain",
    "train",
    "evaluate",
    "load_model",
    "Speech2Face",
    "wav2pix_prepare",
    "wav2pix_train",
    "wav2pix_evaluate",
    "load_wav2pix",
    "Wav2Pix",
)
__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        from speech2face import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'speech2face' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
