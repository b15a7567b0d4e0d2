"""Reading images into RGB uint8 arrays (Pillow), whatever their mode or bit depth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from speech2face.errors import UserError


class FaceError(UserError):
    """An image could not be read or used; the message names the file and the cause."""


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Convert grayscale, RGBA, 16-bit or float images to RGB uint8.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, uint16, or float in [0, 1].
    Returns:
        (H, W, 3) uint8, C-contiguous.
    Raises:
        ValueError: the array is not an image.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"not an image: array of shape {image.shape}")
    image = image[..., :3]
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3) with Pillow.

    Grayscale, palette, RGBA and 16-bit files are converted.

    Raises:
        FaceError: missing, truncated or corrupt file (message names the file).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FaceError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(img, dtype=np.uint32)
                bits = 16 if array.max() > 255 else 8
                return to_rgb_uint8((array >> (bits - 8)).astype(np.uint8))
            if img.mode not in ("RGB", "L", "RGBA"):
                img = img.convert(
                    "RGBA" if "A" in img.mode or "transparency" in img.info else "RGB"
                )
            return to_rgb_uint8(np.asarray(img))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise FaceError(f"{path}: cannot read image ({exc})") from None
