"""VGG-Face (Parkhi et al., "Deep Face Recognition", BMVC 2015) as a Keras functional model.

VGG16 conv stack (conv1_1 ... conv5_3, 3x3, ReLU, 2x2 max-pools), fc6 4096, fc7 4096
(the Speech2Face target feature, after ReLU) and fc8 2622 (identity logits, used by the
Speech2Face distillation loss). Weights come from the keras-vggface release file
``rcmalli_vggface_tf_vgg16.h5`` that the user supplies; it is read with h5py layer by layer,
never downloaded and never replaced by random values.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from speech2face.errors import UserError

WEIGHTS_FILE = "rcmalli_vggface_tf_vgg16.h5"
WEIGHTS_URL = "https://github.com/rcmalli/keras-vggface/releases/download/v2.0/" + WEIGHTS_FILE
N_CLASSES = 2622  # VGG-Face identities
FC_UNITS = 4096
MEAN_BGR = np.array([93.5940, 104.7624, 129.1863], np.float32)  # keras-vggface version 1
# (block, number of convs, channels) of the VGG16 stack
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
WEIGHT_LAYERS = tuple(
    [f"conv{b}_{i}" for b, n, _ in BLOCKS for i in range(1, n + 1)] + ["fc6", "fc7", "fc8"]
)


def weights_help() -> str:
    """One line telling the user where the weights file comes from."""
    return (
        f"download {WEIGHTS_FILE} (keras-vggface release v2.0, {WEIGHTS_URL}) "
        "and pass its path with --vggface-weights"
    )


def build_vggface(
    input_size: int = 224, width: float = 1.0, fc_units: int = FC_UNITS, classes: int = N_CLASSES
) -> keras.Model:
    """VGG-Face with layers named as in the published file.

    Args:
        input_size: square input side in pixels (224 for the published weights).
        width: channel multiplier of the conv stack (1.0 for the published weights; tests
            use a small one).
        fc_units, classes: widths of fc6/fc7 and fc8.
    Returns:
        Model: (B, S, S, 3) float32 preprocessed BGR image -> (B, classes) fc8 logits.
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = inputs
    for block, n_convs, channels in BLOCKS:
        for i in range(1, n_convs + 1):
            x = keras.layers.Conv2D(
                max(1, int(channels * width)),
                3,
                padding="same",
                activation="relu",
                name=f"conv{block}_{i}",
            )(x)
        x = keras.layers.MaxPooling2D(2, 2, name=f"pool{block}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(fc_units, activation="relu", name="fc6")(x)
    x = keras.layers.Dense(fc_units, activation="relu", name="fc7")(x)
    logits = keras.layers.Dense(classes, name="fc8")(x)
    return keras.Model(inputs, logits, name="vggface")


def feature_model(model: keras.Model) -> keras.Model:
    """Model mapping images to (fc7 feature (B, 4096), fc8 logits (B, classes))."""
    return keras.Model(model.input, [model.get_layer("fc7").output, model.output])


def fc8_logits(model: keras.Model, features):
    """fc8 logits of fc7 features: (B, 4096) -> (B, 2622); f_VGG of Speech2Face §3.3."""
    return model.get_layer("fc8")(features)


def preprocess(images: np.ndarray) -> np.ndarray:
    """RGB images in [0, 255] (B, S, S, 3) -> BGR minus the VGG-Face mean, float32."""
    images = np.asarray(images, np.float32)[..., ::-1]
    return images - MEAN_BGR


def _weights_group(h5file):
    return h5file["model_weights"] if "model_weights" in h5file else h5file


def load_weights(model: keras.Model, path: str | os.PathLike) -> list[str]:
    """Fill every weight layer of ``model`` from a keras-vggface HDF5 file.

    The file holds one group per layer (``conv1_1`` ... ``fc8``) whose ``weight_names``
    attribute lists kernel then bias (Keras 2 ``save_weights`` layout; a whole-model file
    with a ``model_weights`` group works too).

    Returns:
        The names of the layers filled (all of WEIGHT_LAYERS).
    Raises:
        UserError: missing file, or a layer missing or of the wrong shape in it.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: VGG-Face weights not found; {weights_help()}")
    filled = []
    try:
        with h5py.File(path, "r") as f:
            root = _weights_group(f)
            for name in WEIGHT_LAYERS:
                if name not in root:
                    raise UserError(f"{path}: layer {name!r} missing; is it {WEIGHTS_FILE}?")
                group = root[name]
                names = [
                    n.decode() if isinstance(n, bytes) else n
                    for n in group.attrs.get("weight_names", [])
                ]
                arrays = [np.asarray(group[n]) for n in names]
                layer = model.get_layer(name)
                expected = [tuple(w.shape) for w in layer.get_weights()]
                if [a.shape for a in arrays] != expected:
                    raise UserError(
                        f"{path}: layer {name} has shapes {[a.shape for a in arrays]}, "
                        f"the model expects {expected}"
                    )
                layer.set_weights(arrays)
                filled.append(name)
    except OSError as exc:
        raise UserError(f"{path}: cannot read HDF5 ({exc})") from None
    return filled


def architecture_of(path: str | os.PathLike) -> dict:
    """Sizes of the VGG-Face stored in a weights file, as :func:`build_vggface` arguments.

    The published file gives input_size 224, width 1.0, fc_units 4096, classes 2622; smaller
    files in the same layout (tests) give their own sizes.

    Raises:
        UserError: missing or unreadable file, or not the keras-vggface layout.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: VGG-Face weights not found; {weights_help()}")
    try:
        with h5py.File(path, "r") as f:
            root = _weights_group(f)

            def kernel(name):
                if name not in root:
                    raise UserError(f"{path}: layer {name!r} missing; is it {WEIGHTS_FILE}?")
                group = root[name]
                first = group.attrs["weight_names"][0]
                return group[first.decode() if isinstance(first, bytes) else first].shape

            width = kernel("conv1_1")[-1] / 64
            fc6_in, fc_units = kernel("fc6")
            classes = kernel("fc8")[-1]
    except OSError as exc:
        raise UserError(f"{path}: cannot read HDF5 ({exc})") from None
    channels = max(1, int(512 * width))
    side = round((fc6_in / channels) ** 0.5) * 32
    return {"input_size": side, "width": width, "fc_units": fc_units, "classes": classes}


def load_vggface(path: str | os.PathLike, **build_kwargs) -> keras.Model:
    """Build VGG-Face with the sizes stored in ``path`` and load its weights.

    See :func:`architecture_of` and :func:`load_weights`; ``build_kwargs`` override sizes.
    """
    model = build_vggface(**{**architecture_of(path), **build_kwargs})
    load_weights(model, path)
    return model
