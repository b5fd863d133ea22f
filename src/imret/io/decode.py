"""``open_image``: the one way imret opens an image, from a path or from bytes, within limits."""
from __future__ import annotations

import io
import os
import threading
import warnings
from typing import BinaryIO, Callable, Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import limits
from .convert import image_to_bgr
from .errors import ImageDecodeError, ImageTooLargeError
from .regular import open_regular

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview]
Size = tuple[int, int]
DraftSize = Union[Size, Callable[[int, int], Size]]

# Pillow's EPS reader runs Ghostscript on the file: never on untrusted data.
REFUSED_FORMATS = frozenset({"EPS"})
# image.info key of the upright (w, h) in the file, before any draft reduction
ORIGINAL_SIZE_KEY = "imret.original_size"
# image.info key, after draft decoding: the region of the image (x0, y0, x1, y1) that holds the whole
# picture; the last row/column is partial when the size in the file is not a multiple of the scale
DRAFT_BOX_KEY = "imret.draft_box"
# JPEGs are draft-decoded to at least this many times the planned size, so the resize that follows
# still low-pass filters the image as it does after full decoding (measured: see benchmarks/bench_decode.py)
DRAFT_MARGIN = 2
# formats Image.draft can decode at a reduced scale
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
# EXIF orientations that swap width and height
_TRANSPOSING = frozenset({5, 6, 7, 8})
# warnings.catch_warnings is process-wide: serialise the (header-only) Image.open calls that use it
_OPEN_LOCK = threading.Lock()


def _allowed_formats(common: bool = False) -> list[str]:
    """Formats Image.open may try: Pillow's common ones (JPEG, PNG, BMP, GIF, PPM; its ``preinit``) or
    all it has (``init`` imports some 40 plugin modules, ~30-50 ms, once per process)."""
    if common:
        Image.preinit()
    else:
        Image.init()
    return [name for name in Image.OPEN if name not in REFUSED_FORMATS]


def _open_any(stream: BinaryIO) -> Image.Image:
    """``Image.open`` trying the common formats first, then every allowed one. Pillow tries formats in
    registration order and registers the common ones first, so the format found is the same."""
    start = stream.tell()
    try:
        return Image.open(stream, formats=_allowed_formats(common=True))
    except UnidentifiedImageError:
        stream.seek(start)
        return Image.open(stream, formats=_allowed_formats())


def _open_header(stream: BinaryIO, label: Optional[str]) -> Image.Image:
    """Pillow's lazy open (header only); Pillow's decompression-bomb warning and error become ours."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _open_any(stream)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(label, f"Pillow refuses it as a possible decompression bomb: {exc} "
                                        f"(PIL.Image.MAX_IMAGE_PIXELS; imret's own limit is {limits.ENV_MAX_PIXELS})"
                                 ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(label, "unknown or corrupt image format") from None
    except MemoryError:
        raise ImageTooLargeError(label, "out of memory while reading the header") from None
    except Exception as exc:  # any parser failure on a corrupt header means the same
        raise ImageDecodeError(label, f"{type(exc).__name__}: {exc}") from None


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block: orientation is ignored later too
        return 1


def _oriented_box(box: tuple[float, float, float, float], size: Size, orientation: int
                  ) -> tuple[float, float, float, float]:
    """``box`` (in an image of ``size``) where it lands once the EXIF ``orientation`` is applied."""
    x0, y0, x1, y1 = box
    w, h = size
    boxes = {2: (w - x1, y0, w - x0, y1), 3: (w - x1, h - y1, w - x0, h - y0), 4: (x0, h - y1, x1, h - y0),
             5: (y0, x0, y1, x1), 6: (h - y1, x0, h - y0, x1), 7: (h - y1, w - x1, h - y0, w - x0),
             8: (y0, w - x1, y1, w - x0)}
    return boxes.get(orientation, box)


def _decode(stream: BinaryIO, label: Optional[str], max_pixels: Optional[int], max_side_after_resize: Optional[int],
            draft_size: Optional[DraftSize], draft: Optional[bool], apply_orientation: bool) -> Image.Image:
    image = _open_header(stream, label)
    try:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageDecodeError(label, f"the header gives an empty size {width}x{height}")
        if image.format not in DRAFT_FORMATS:
            # no reduced decoding possible; and Pillow's getexif() decodes a whole PNG to find its EXIF
            limits.check_pixels(width, height, label, max_pixels)
        orientation = _orientation(image) if apply_orientation else 1
        turned = orientation in _TRANSPOSING
        shown = (height, width) if turned else (width, height)
        target = draft_size(*shown) if callable(draft_size) else draft_size
        box = None
        if target is not None:
            target = (max(1, int(target[0])), max(1, int(target[1])))
            limits.check_resize(shown, target, label, max_side_after_resize, max_pixels)
            if limits.draft_enabled(draft):
                wanted = (target[0] * DRAFT_MARGIN, target[1] * DRAFT_MARGIN)
                drafted = image.draft(image.mode, (wanted[1], wanted[0]) if turned else wanted)
                box = drafted[1] if drafted and image.size != (width, height) else None
        limits.check_pixels(*image.size, label, max_pixels)  # after draft: the pixels really decoded
        image.load()
    except ImageDecodeError:
        image.close()
        raise
    except MemoryError:
        image.close()
        raise ImageTooLargeError(label, "out of memory while decoding") from None
    except Exception as exc:  # truncated data, decoder errors: all mean "unreadable"
        image.close()
        raise ImageDecodeError(label, f"{type(exc).__name__}: {exc}") from None
    if apply_orientation:
        try:
            if box is not None:
                box = _oriented_box(box, image.size, orientation)
            image = ImageOps.exif_transpose(image)
        except Exception as exc:  # a broken EXIF block should not cost the pixels
            warnings.warn(f"{label}: ignoring an unreadable EXIF orientation ({exc})", stacklevel=3)
            shown, box = (width, height), drafted[1] if box is not None else None
    image.info[ORIGINAL_SIZE_KEY] = shown
    if box is not None:
        image.info[DRAFT_BOX_KEY] = box
    return image


def open_image(source: ImageSource, *, name: Optional[str] = None, max_pixels: Optional[int] = None,
               max_side_after_resize: Optional[int] = None, draft_size: Optional[DraftSize] = None,
               draft: Optional[bool] = None, apply_orientation: bool = True) -> Image.Image:
    """Decode an image file (a path) or image bytes into a loaded Pillow image, upright (EXIF).

    ``image.info['imret.original_size']`` is the upright ``(w, h)`` stored in the file. After draft
    decoding the image is smaller and ``image.info['imret.draft_box']`` is the (fractional) box of it
    that holds the whole picture: resize that box (``Image.resize(..., box=)``) to match full decoding.

    Args:
        source: a path (``str``/``os.PathLike``; only regular files are opened) or the image's bytes.
        name: how the image is named in errors (default: the path; ``<image bytes>`` for bytes).
        max_pixels: refuse images with more pixels than this, read from the header before decoding
            (default ``$IMRET_MAX_PIXELS`` or 8192 x 8192; see ``imret.io.limits``).
        max_side_after_resize: with ``draft_size``, refuse images whose planned resize has a longer
            side (default ``$IMRET_MAX_SIDE_AFTER_RESIZE`` or 16384).
        draft_size: the size ``(w, h)`` the caller will resize the image to, or a function from the
            image's upright ``(w, h)`` to it. JPEGs are then decoded at the smallest 1/2, 1/4 or 1/8
            scale still at least ``DRAFT_MARGIN`` (2) times that large, and the pixel limit counts
            the reduced size.
        draft: use JPEG draft decoding when ``draft_size`` is given (default ``$IMRET_JPEG_DRAFT`` or on).
        apply_orientation: rotate/flip by the EXIF orientation tag.

    Raises:
        ImageDecodeError: naming the image and the reason, for every refusal or failure:
        ``ImageNotFoundError`` (missing file), ``NotRegularFileError`` (FIFO, socket, device,
        directory), ``ImageTooLargeError`` (a limit, or Pillow's decompression-bomb check).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageDecodeError(name, "no bytes: the image is empty")
        return _decode(io.BytesIO(bytes(source)), name, max_pixels, max_side_after_resize, draft_size, draft,
                       apply_orientation)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"open_image needs a path or bytes; got {type(source).__name__}")
    label = name if name is not None else os.fsdecode(os.fspath(source))
    with open_regular(source) as stream:
        if os.fstat(stream.fileno()).st_size == 0:
            raise ImageDecodeError(label, "the file is empty")
        return _decode(stream, label, max_pixels, max_side_after_resize, draft_size, draft, apply_orientation)


def decode_bgr(source: ImageSource, *, grayscale: bool = False, **options) -> np.ndarray:
    """``open_image`` (same options) as an HWC uint8 BGR array, or HW uint8 luma when ``grayscale``."""
    return image_to_bgr(open_image(source, **options), grayscale=grayscale)
