"""Face decoder of Cole et al. ("Synthesizing Normalized Faces from Facial Identity
Features", CVPR 2017), as used by Speech2Face (§3.2): face feature -> canonical face.

feature -> ``f_dec`` (Dense 1000 + ReLU; the layer the Speech2Face loss compares)
  -> landmark branch: shallow MLP with ReLUs -> (68, 2) landmarks, normalised (x, y) in [0, 1]
  -> texture branch: Dense -> (S/16, S/16, 256) -> 4 transposed convs 5x5 stride 2 with
     max(256 / 2^i, 32) channels and ReLU -> 1x1 conv -> RGB texture in [0, 1] (S x S)
  -> render: the texture warped from the mean landmarks to the predicted ones
     (:func:`speech2face.models.warp.sparse_image_warp`, image border pinned).
Presets: ``paper`` (224 px), ``small`` (64 px) and ``small128`` (128 px) for CPUs.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from speech2face.models.warp import sparse_image_warp

N_LANDMARKS = 68
PRESETS = {
    "paper": dict(image_size=224, f_dec_units=1000, landmark_units=256, base_channels=256),
    "small128": dict(image_size=128, f_dec_units=256, landmark_units=128, base_channels=64),
    "small": dict(image_size=64, f_dec_units=256, landmark_units=128, base_channels=64),
}
BOUNDARY_POINTS = 4  # per image edge, held still by the warp (Cole et al. pin the border)


@keras.saving.register_keras_serializable(package="speech2face")
class LandmarkWarp(keras.layers.Layer):
    """Render: warp a texture from the mean landmarks to predicted landmarks.

    Inputs: [texture (B, S, S, 3), landmarks (B, 68, 2) normalised (x, y)].
    Output: (B, S, S, 3) rendered face.

    Args:
        mean_landmarks: (68, 2) normalised (x, y) mean landmarks of the training faces.
        num_boundary_points: border points per edge with zero displacement.
    """

    def __init__(self, mean_landmarks, num_boundary_points: int = BOUNDARY_POINTS, **kwargs):
        super().__init__(**kwargs)
        self.mean_landmarks = np.asarray(mean_landmarks, np.float32).reshape(N_LANDMARKS, 2)
        self.num_boundary_points = int(num_boundary_points)

    def call(self, inputs):
        texture, landmarks = inputs
        size = ops.shape(texture)[1]
        scale = ops.cast(size, "float32")
        mean = ops.convert_to_tensor(self.mean_landmarks)[None] * scale
        mean = ops.broadcast_to(mean, ops.shape(landmarks))
        # (x, y) normalised -> (row, col) pixels
        src = ops.flip(mean, axis=-1)
        dst = ops.flip(landmarks * scale, axis=-1)
        warped, _ = sparse_image_warp(texture, src, dst, 2, 0.0, self.num_boundary_points)
        return warped

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            mean_landmarks=self.mean_landmarks.tolist(),
            num_boundary_points=self.num_boundary_points,
        )
        return config


def build_face_decoder(
    feature_dim: int, mean_landmarks, preset: str = "small", **overrides
) -> keras.Model:
    """Build the face decoder.

    Args:
        feature_dim: face-feature dimension (128 dlib, 4096 VGG-Face fc7; from the manifest).
        mean_landmarks: (68, 2) normalised (x, y) mean landmarks of the training split.
        preset: "paper", "small128" or "small"; ``overrides`` change single settings.
    Returns:
        Functional model: (B, feature_dim) float32 -> {"image": (B, S, S, 3) in [0, 1],
        "texture": (B, S, S, 3), "landmarks": (B, 68, 2) normalised (x, y)}.
        The first layer is named ``f_dec``.
    Raises:
        ValueError: unknown preset or an image size not divisible by 16.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown decoder preset {preset!r}: use one of {sorted(PRESETS)}")
    cfg = {**PRESETS[preset], **overrides}
    size = cfg["image_size"]
    if size % 16:
        raise ValueError(f"image_size must be a multiple of 16, got {size}")
    feature = keras.Input((feature_dim,), name="feature")
    h = keras.layers.Dense(cfg["f_dec_units"], activation="relu", name="f_dec")(feature)

    lm = keras.layers.Dense(cfg["landmark_units"], activation="relu", name="landmark_fc1")(h)
    # the bias starts at the mean landmarks: the MLP learns each face's offsets from them
    mean_flat = np.asarray(mean_landmarks, np.float32).reshape(-1)
    lm = keras.layers.Dense(
        N_LANDMARKS * 2,
        name="landmark_fc2",
        bias_initializer=keras.initializers.Constant(mean_flat),
    )(lm)
    landmarks = keras.layers.Reshape((N_LANDMARKS, 2), name="landmarks")(lm)

    start = size // 16
    base = cfg["base_channels"]
    t = keras.layers.Dense(start * start * base, activation="relu", name="texture_fc")(h)
    t = keras.layers.Reshape((start, start, base), name="texture_grid")(t)
    for i in range(4):
        channels = max(base // 2**i, 32)
        t = keras.layers.Conv2DTranspose(
            channels, 5, strides=2, padding="same", activation="relu", name=f"texture_up{i + 1}"
        )(t)
    texture = keras.layers.Conv2D(3, 1, activation="sigmoid", name="texture")(t)
    image = LandmarkWarp(mean_landmarks, name="image")([texture, landmarks])
    model = keras.Model(
        feature,
        {"image": image, "texture": texture, "landmarks": landmarks},
        name=f"face_decoder_{preset}",
    )
    return model


def f_dec_model(decoder: keras.Model) -> keras.Model:
    """Sub-model feature -> activations of the decoder's first layer ``f_dec``."""
    return keras.Model(decoder.input, decoder.get_layer("f_dec").output)


def mean_landmarks_of(landmarks: np.ndarray, crop_size: int) -> np.ndarray:
    """Mean of (N, 68, 2) pixel landmarks of crops of side ``crop_size`` -> normalised (68, 2)."""
    return (np.asarray(landmarks, np.float64).mean(0) / crop_size).astype(np.float32)
