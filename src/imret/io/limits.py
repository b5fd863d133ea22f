"""Resource limits on decoding and resizing images, from arguments, environment variables or defaults.

- ``max_pixels`` (``IMRET_MAX_PIXELS``, default 8192 x 8192 = 67,108,864): an image whose size, read
  from its header, has more pixels than this is refused before any pixel is decoded. For a JPEG
  decoded at a reduced scale (draft mode) the reduced size counts. Pillow's own decompression-bomb
  limit (``PIL.Image.MAX_IMAGE_PIXELS``) is enforced as well and refused the same way.
- ``max_side_after_resize`` (``IMRET_MAX_SIDE_AFTER_RESIZE``, default 16384): a resize whose output
  would have a side longer than this (or more than ``max_pixels`` pixels) is refused. This stops
  aspect-ratio bombs: a 4000x1 PNG scaled to a short edge of 256 would be 1,024,000x256.
- ``draft`` (``IMRET_JPEG_DRAFT``, default on): decode JPEGs at 1/2, 1/4 or 1/8 scale when the
  pipeline's resize needs no more; ``0`` turns it off.

An argument wins over the environment variable, which wins over the default.
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import ImageTooLargeError

DEFAULT_MAX_PIXELS = 8192 * 8192
DEFAULT_MAX_SIDE_AFTER_RESIZE = 16384
ENV_MAX_PIXELS = "IMRET_MAX_PIXELS"
ENV_MAX_SIDE_AFTER_RESIZE = "IMRET_MAX_SIDE_AFTER_RESIZE"
ENV_JPEG_DRAFT = "IMRET_JPEG_DRAFT"


def _positive(value: object, name: str) -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number < 1 or (isinstance(value, float) and value != number):
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return number


def _setting(value: Optional[int], env: str, default: int, name: str) -> int:
    if value is not None:
        return _positive(value, name)
    text = os.environ.get(env, "").strip()
    if text:
        return _positive(text.replace("_", ""), f"the environment variable {env}")
    return default


def max_pixels(value: Optional[int] = None) -> int:
    """The pixel limit: ``value``, else ``$IMRET_MAX_PIXELS``, else 8192 x 8192."""
    return _setting(value, ENV_MAX_PIXELS, DEFAULT_MAX_PIXELS, "max_pixels")


def max_side_after_resize(value: Optional[int] = None) -> int:
    """The longest side a resize may produce: ``value``, else ``$IMRET_MAX_SIDE_AFTER_RESIZE``, else 16384."""
    return _setting(value, ENV_MAX_SIDE_AFTER_RESIZE, DEFAULT_MAX_SIDE_AFTER_RESIZE, "max_side_after_resize")


def draft_enabled(value: Optional[bool] = None) -> bool:
    """Whether JPEG draft decoding is on: ``value``, else ``$IMRET_JPEG_DRAFT`` (``0``/``1``), else on."""
    if value is not None:
        return bool(value)
    text = os.environ.get(ENV_JPEG_DRAFT, "").strip().lower()
    if text in ("", "1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"the environment variable {ENV_JPEG_DRAFT} must be 0 or 1; got {text!r}")


def check_pixels(width: int, height: int, source: Optional[str], limit: Optional[int] = None) -> None:
    """Raise ``ImageTooLargeError`` when a ``width`` x ``height`` image is over the pixel limit."""
    allowed = max_pixels(limit)
    if width * height > allowed:
        raise ImageTooLargeError(
            source, f"{width}x{height} is {width * height:,} pixels, over the limit of {allowed:,}; "
                    f"raise it with {ENV_MAX_PIXELS} or max_pixels= if you trust the file")


def check_resize(size: tuple[int, int], target: tuple[int, int], source: Optional[str],
                 max_side: Optional[int] = None, pixels: Optional[int] = None) -> None:
    """Raise ``ImageTooLargeError`` when resizing ``size`` to ``target`` (both (w, h)) would be too large."""
    side, allowed = max_side_after_resize(max_side), max_pixels(pixels)
    new_w, new_h = target
    if max(new_w, new_h) > side or new_w * new_h > allowed:
        raise ImageTooLargeError(
            source, f"resizing {size[0]}x{size[1]} would give {new_w}x{new_h}, over the limit of "
                    f"{side} pixels per side / {allowed:,} pixels (extreme aspect ratio?); raise it with "
                    f"{ENV_MAX_SIDE_AFTER_RESIZE} if you trust the file")
