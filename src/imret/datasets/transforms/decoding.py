"""Read image files into HWC uint8 arrays with Pillow, whatever their mode or orientation.

Conversions applied to every decoded file:

- EXIF orientation is applied (``ImageOps.exif_transpose``) unless the colour type ends in
  ``_ignore_orientation``;
- grey (``1``, ``L``), palette (``P``), CMYK, YCbCr, ... become RGB;
- transparency (``LA``, ``RGBA``, palette with a transparent colour) is composited on a white
  background, so transparent product photos keep their look instead of turning black;
- 16-bit grey (``I;16*``, ``I``) is scaled to 8 bits by ``round(v / 257)`` (0 -> 0, 65535 -> 255),
  not clipped; Pillow itself already reduces 16-bit RGB PNGs to their high byte;
- float images (``F``) in [0, 1] are scaled by 255, others are clipped to [0, 255].
"""
from __future__ import annotations

import io
import os
import warnings
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

PathLike = Union[str, os.PathLike]

COLOR_TYPES = ("color", "grayscale", "color_ignore_orientation", "grayscale_ignore_orientation")

# Pillow's EPS reader runs Ghostscript on the file: never on untrusted data.
REFUSED_FORMATS = frozenset({"EPS"})


class UnreadableImageError(OSError, ValueError):
    """An image file that cannot be read or decoded; the message names the file."""


class ImageNotFoundError(UnreadableImageError, FileNotFoundError):
    """An image file that does not exist."""


def read_file_bytes(path: PathLike, backend_args: Optional[dict] = None) -> bytes:
    """Return the bytes of ``path`` (local, or through mmengine's file backends when ``backend_args`` is set)."""
    try:
        if backend_args:
            from mmengine.fileio import get

            return get(str(path), backend_args=backend_args)
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{path}: not a readable image (no such file; check the path and the "
                                 "dataset's data_root)") from exc
    except OSError as exc:
        raise UnreadableImageError(f"{path}: not a readable image (cannot read the file: {exc})") from exc


def _allowed_formats() -> list:
    Image.init()
    return [name for name in Image.OPEN if name not in REFUSED_FORMATS]


def open_image(data: bytes, source: str, apply_orientation: bool = True) -> Image.Image:
    """Decode ``data`` fully with Pillow (any raster format but EPS); ``source`` names the file in errors."""
    if not data:
        raise UnreadableImageError(f"{source}: not a readable image (the file is empty)")
    try:
        image = Image.open(io.BytesIO(data), formats=_allowed_formats())
        image.load()
    except MemoryError:
        raise
    except UnidentifiedImageError as exc:
        raise UnreadableImageError(f"{source}: not a readable image (unknown or corrupt image format)") from exc
    except Exception as exc:  # any decoder failure (truncated, corrupt, unknown format) means the same
        raise UnreadableImageError(f"{source}: not a readable image ({type(exc).__name__}: {exc})") from exc
    if apply_orientation:
        try:
            image = ImageOps.exif_transpose(image)
        except Exception as exc:  # a broken EXIF block should not cost the pixels
            warnings.warn(f"{source}: ignoring an unreadable EXIF orientation ({exc})", stacklevel=2)
    return image


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


def read_image(path: PathLike, color_type: str = "color", backend_args: Optional[dict] = None) -> np.ndarray:
    """Read ``path`` as an HWC uint8 BGR array (``color*``) or an HW uint8 array (``grayscale*``).

    Raises ``UnreadableImageError`` (an ``OSError`` and a ``ValueError``) naming the file when it
    cannot be read or decoded, ``ImageNotFoundError`` when it does not exist.
    """
    if color_type not in COLOR_TYPES:
        raise ValueError(f"color_type must be one of {', '.join(COLOR_TYPES)}; got {color_type!r}")
    image = open_image(read_file_bytes(path, backend_args), str(path),
                       apply_orientation=not color_type.endswith("_ignore_orientation"))
    rgb = image_to_rgb(image)
    if color_type.startswith("grayscale"):
        return rgb_to_grey(rgb)
    return np.ascontiguousarray(rgb[..., ::-1])
