"""``read_image``: a file (or bytes) as the array ``LoadImageFromFile`` puts in ``results['img']``.

Decoding itself is ``imret.io.open_image`` (regular files only, pixel and resize limits, JPEG draft
decoding); the mode conversions are ``imret.io.convert``: EXIF orientation applied unless the colour
type ends in ``_ignore_orientation``, any mode to 3-channel uint8 BGR, transparency on white.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np

from imret.io import ImageDecodeError, ImageNotFoundError, image_to_bgr, image_to_rgb, open_image

__all__ = ["COLOR_TYPES", "ImageNotFoundError", "UnreadableImageError", "image_to_rgb", "read_image"]

COLOR_TYPES = ("color", "grayscale", "color_ignore_orientation", "grayscale_ignore_orientation")

# The loader's historical name for imret.io's one documented error.
UnreadableImageError = ImageDecodeError


def _remote_bytes(path: str, backend_args: dict) -> bytes:
    from mmengine.fileio import get

    try:
        return get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise ImageNotFoundError(path, "no such file; check the path and the dataset's data_root") from None
    except OSError as exc:
        raise ImageDecodeError(path, f"cannot read the file: {exc}") from None


def read_image(path: Union[str, os.PathLike, bytes], color_type: str = "color", backend_args: Optional[dict] = None,
               **limits) -> np.ndarray:
    """Read ``path`` (or image bytes) as HWC uint8 BGR (``color*``) or HW uint8 (``grayscale*``).

    ``limits`` are ``imret.io.open_image``'s keyword options (``max_pixels``, ``draft_size``, ...).
    Raises ``UnreadableImageError`` (``imret.io.ImageDecodeError``: an ``OSError`` and a
    ``ValueError``) naming the file, ``ImageNotFoundError`` when it does not exist.
    """
    if color_type not in COLOR_TYPES:
        raise ValueError(f"color_type must be one of {', '.join(COLOR_TYPES)}; got {color_type!r}")
    source = path
    if backend_args and not isinstance(path, (bytes, bytearray)):
        limits.setdefault("name", os.fspath(path))
        source = _remote_bytes(str(path), backend_args)
    image = open_image(source, apply_orientation=not color_type.endswith("_ignore_orientation"), **limits)
    return image_to_bgr(image, grayscale=color_type.startswith("grayscale"))
