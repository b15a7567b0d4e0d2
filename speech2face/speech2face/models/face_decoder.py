"""Face decoder of Cole et al. ("Synthesizing Normalized Faces from Facial Identity
Features", CVPR 2017), as used by Speech2Face (§3.2): face feature -> canonical face.

feature -> ``f_dec`` (Dense 1000 + ReLU; the layer the Speech2Face loss compares)
  -> landmark branch: shallow MLP with ReLUs -> (68, 2) landmarks, normalised (x, y) in [0, 1]
  -> texture branch: Dense -> (S/16, S/16, 256) -> 4 transposed convs 5x5 stride 2 with
     max(256 / 2^i, 32) channels and ReLU -> 1x1 conv -> RGB texture in [0, 1] (S x S)
  -> render: the texture warped from the mean landmarks to the predicted ones
     (:func:`speech2face.speech2face.models.warp.sparse_image_warp`, image border pinned,
     resampled bicubically), the face (the feathered convex hull of the landmarks and the
     forehead, :func:`face_mask`, warped with it) laid on a plain background.
Presets: ``paper`` (224 px), ``small`` (64 px), ``small128`` (128 px) for CPUs and
``medium128`` (128 px, twice the channels: the shipped model's, trained on ~20,000 faces).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from speech2face.speech2face.models.warp import sparse_image_warp

N_LANDMARKS = 68
PRESETS = {
    "paper": dict(image_size=224, f_dec_units=1000, landmark_units=256, base_channels=256),
    "small128": dict(image_size=128, f_dec_units=256, landmark_units=128, base_channels=64),
    "medium128": dict(image_size=128, f_dec_units=256, landmark_units=128, base_channels=128),
    "small": dict(image_size=64, f_dec_units=256, landmark_units=128, base_channels=64),
}
BOUNDARY_POINTS = 4  # per image edge, held still by the warp (Cole et al. pin the border)
BACKGROUND = (0.5, 0.5, 0.5)  # RGB in [0, 1] of the plain background of rendered faces
MASK_FEATHER = 0.03  # Gaussian sigma of the face mask's edge, as a fraction of the image side
FOREHEAD = 0.4  # the mask's top: the brows raised by this many outer inter-ocular distances
BROWS = slice(17, 27)
# The render's control points: all but the inner lips (61-63, 65-67). Rendered faces have
# closed mouths, whose inner-lip pairs nearly coincide: a spline through them is ill-posed.
RENDER_POINTS = tuple(i for i in range(N_LANDMARKS) if i not in (61, 62, 63, 65, 66, 67))
# How the render resamples the texture. A bilinear resampling at fractional offsets is a
# blur: the shipped decoder's renders kept 0.26 of a real face's Laplacian detail with it,
# 0.36 bicubically, from the same texture (whose own ratio is 0.53; issue 20).
RENDER_INTERPOLATION = "bicubic"


def face_mask(landmarks, size: int, feather: float = MASK_FEATHER, forehead: float = FOREHEAD):
    """The face region of an image: the convex hull of the 68 landmarks and of the brows
    raised by ``forehead`` outer inter-ocular distances, grown by ``feather`` and feathered.

    Args:
        landmarks: (68, 2) normalised (x, y) landmarks (the decoder's mean landmarks).
        size: image side in pixels.
        feather: Gaussian sigma of the edge as a fraction of ``size`` (0: a hard edge).
        forehead: height of the forehead band above the brows (0: the landmarks' hull).
    Returns:
        (size, size) float32 in [0, 1]: about 1 inside the face, 0 far outside it.
    """
    import cv2

    points = np.asarray(landmarks, np.float64).reshape(N_LANDMARKS, 2) * size
    span = np.linalg.norm(points[45] - points[36])
    brows = points[BROWS] - (0.0, forehead * span)
    hull = cv2.convexHull(np.concatenate([points, brows]).astype(np.float32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 255)
    sigma = feather * size
    if sigma > 0:
        grow = max(1, int(round(sigma)))  # the hull's edge stays ~0.85, not 0.5
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
        mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
        return mask.astype(np.float32)
    return mask.astype(np.float32) / 255.0


@keras.saving.register_keras_serializable(package="speech2face")
class LandmarkWarp(keras.layers.Layer):
    """Render: warp a texture from the mean landmarks to predicted landmarks.

    Inputs: [texture (B, S, S, 3), landmarks (B, 68, 2) normalised (x, y)].
    Output: (B, S, S, 3) rendered face. With a ``background``, the face mask
    (:func:`face_mask` of the mean landmarks) is warped with the texture and the face laid on
    the plain background: ``image = warp(texture) * warp(mask) + background * (1 - warp(mask))``,
    so no background or border pixel the spline pulls in shows.

    Args:
        mean_landmarks: (68, 2) normalised (x, y) mean landmarks of the training faces.
        num_boundary_points: border points per edge with zero displacement.
        background: RGB in [0, 1], or None for the bare warped texture (decoders saved
            before the mask load so and render as they did).
        mask_feather: the mask's feather (:func:`face_mask`).
        control_points: indices of the landmarks that steer the warp (None: all 68, as
            decoders saved before :data:`RENDER_POINTS`).
        interpolation: how the texture is resampled, "bilinear" (decoders saved before
            :data:`RENDER_INTERPOLATION` load so and render as they did) or "bicubic"
            (:func:`speech2face.speech2face.models.warp.dense_image_warp`); the bicubic face
            is clipped to [0, 1] (the cubic kernel overshoots a little).
    """

    def __init__(
        self,
        mean_landmarks,
        num_boundary_points: int = BOUNDARY_POINTS,
        background=None,
        mask_feather: float = MASK_FEATHER,
        control_points=None,
        interpolation: str = "bilinear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        from speech2face.speech2face.models.warp import INTERPOLATIONS

        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"unknown interpolation {interpolation!r}: use one of {INTERPOLATIONS}"
            )
        self.interpolation = interpolation
        self.mean_landmarks = np.asarray(mean_landmarks, np.float32).reshape(N_LANDMARKS, 2)
        self.num_boundary_points = int(num_boundary_points)
        self.background = None if background is None else [float(v) for v in background]
        self.mask_feather = float(mask_feather)
        self.control_points = None if control_points is None else [int(i) for i in control_points]
        self._mask = None

    def build(self, input_shapes):
        if self.background is not None:
            size = int(input_shapes[0][1])
            self._mask = face_mask(self.mean_landmarks, size, self.mask_feather)[None, :, :, None]
        self.built = True

    def call(self, inputs):
        texture, landmarks = inputs
        size = ops.shape(texture)[1]
        scale = ops.cast(size, "float32")
        mean_landmarks = self.mean_landmarks
        if self.control_points is not None:
            mean_landmarks = mean_landmarks[self.control_points]
            landmarks = ops.take(landmarks, np.asarray(self.control_points), axis=1)
        mean = ops.convert_to_tensor(mean_landmarks)[None] * scale
        mean = ops.broadcast_to(mean, ops.shape(landmarks))
        # (x, y) normalised -> (row, col) pixels
        src = ops.flip(mean, axis=-1)
        dst = ops.flip(landmarks * scale, axis=-1)
        pins, how = self.num_boundary_points, self.interpolation
        if self.background is None:
            warped, _ = sparse_image_warp(texture, src, dst, 2, 0.0, pins, how)
            return warped if how == "bilinear" else ops.clip(warped, 0.0, 1.0)
        mask = ops.broadcast_to(ops.convert_to_tensor(self._mask), ops.shape(texture[..., :1]))
        warped, _ = sparse_image_warp(
            ops.concatenate([texture, mask], axis=-1), src, dst, 2, 0.0, pins, how
        )
        alpha = ops.clip(warped[..., 3:], 0.0, 1.0)
        background = ops.convert_to_tensor(np.asarray(self.background, np.float32))
        image = warped[..., :3] * alpha + background * (1.0 - alpha)
        return image if how == "bilinear" else ops.clip(image, 0.0, 1.0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            mean_landmarks=self.mean_landmarks.tolist(),
            num_boundary_points=self.num_boundary_points,
            background=self.background,
            mask_feather=self.mask_feather,
            control_points=self.control_points,
            interpolation=self.interpolation,
        )
        return config


def build_face_decoder(
    feature_dim: int, mean_landmarks, preset: str = "small", **overrides
) -> keras.Model:
    """Build the face decoder.

    Args:
        feature_dim: face-feature dimension (128 dlib, 4096 VGG-Face fc7; from the manifest).
        mean_landmarks: (68, 2) normalised (x, y) mean landmarks of the training split.
        preset: a name of :data:`PRESETS`; ``overrides`` change single settings of
            the preset (image_size, f_dec_units, landmark_units, base_channels) or of the
            render: background (RGB in [0, 1], default :data:`BACKGROUND`; None renders the
            bare warped texture, as decoders before the face mask), mask_feather,
            control_points (default :data:`RENDER_POINTS`; None: all 68) and interpolation
            (default :data:`RENDER_INTERPOLATION`).
    Returns:
        Functional model: (B, feature_dim) float32 -> {"image": (B, S, S, 3) in [0, 1],
        "texture": (B, S, S, 3), "landmarks": (B, 68, 2) normalised (x, y)}.
        The first layer is named ``f_dec``.
    Raises:
        ValueError: unknown preset or an image size not divisible by 16.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown decoder preset {preset!r}: use one of {sorted(PRESETS)}")
    render = {
        "background": BACKGROUND,
        "mask_feather": MASK_FEATHER,
        "control_points": RENDER_POINTS,
        "interpolation": RENDER_INTERPOLATION,
    }
    cfg = {**PRESETS[preset], **render, **overrides}
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
    image = LandmarkWarp(
        mean_landmarks,
        background=cfg["background"],
        mask_feather=cfg["mask_feather"],
        control_points=cfg["control_points"],
        interpolation=cfg["interpolation"],
        name="image",
    )([texture, landmarks])
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
