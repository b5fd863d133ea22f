"""Turning a decoded Pillow image of any mode into uint8 arrays.

- grey (``1``, ``L``), palette (``P``), CMYK, YCbCr, ... become RGB;
- transparency (``LA``, ``RGBA``, palette with a transparent colour) is composited on a white
  background, so transparent product photos keep their look instead of turning black;
- 16-bit grey (``I;16*``, ``I``) is scaled to 8 bits by ``round(v / 257)`` (0 -> 0, 65535 -> 255),
  not clipped; Pillow itself already reduces 16-bit RGB PNGs to their high byte;
- float images (``F``) in [0, 1] are scaled by 255, others are clipped to [0, 255].
"""
from __future__ import annotations

import numpy as np
from PIL import Image


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide * 2 + 257) // 514).astype(np.uint8)  # round(v / 257), ties up


def _scale_float(values: np.ndarray) -> np.ndarray:
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    blended = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """Turn a decoded Pillow image of any mode into an HWC uint8 RGB array."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        return _grey_to_rgb(_scale_16bit(np.asarray(image)))
    if mode == "F":
        return _grey_to_rgb(_scale_float(np.asarray(image)))
    if mode in ("P", "L", "RGB") and "transparency" in image.info:  # a transparent colour key
        image = image.convert("RGBA")
    elif mode in ("1", "L"):
        return _grey_to_rgb(np.asarray(image.convert("L")))
    if image.mode in ("LA", "La", "PA", "RGBA", "RGBa"):
        return _composite_on_white(np.asarray(image.convert("RGBA")))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an RGB uint8 array as an HW uint8 array (exact for grey inputs)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))


_RGB_TO_BGR = np.array([2, 1, 0])


def image_to_bgr(image: Image.Image, grayscale: bool = False) -> np.ndarray:
    """An HWC uint8 BGR array (mmcv's convention), or HW uint8 luma when ``grayscale``."""
    rgb = image_to_rgb(image)
    if grayscale:
        return rgb_to_grey(rgb)
    return rgb.take(_RGB_TO_BGR, axis=2)  # a C-contiguous copy, about twice as fast as rgb[..., ::-1]
