"""``LoadImageFromFile``: the first pipeline step, turning ``img_path`` into ``img``."""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple, Optional

import numpy as np
from PIL import Image

from imret.io import DRAFT_BOX_KEY, ORIGINAL_SIZE_KEY, check_pixels, image_to_bgr, open_image

from .base import BaseTransform
from .decoding import COLOR_TYPES, UnreadableImageError, _remote_bytes
from .types import transform_type

ON_ERROR_CHOICES = ("raise", "skip")
# results key set when a JPEG was decoded at a reduced scale (a DraftDecoded)
DRAFT_KEY = "img_draft"


class DraftDecoded(NamedTuple):
    """A draft-decoded image's size in the file ``(h, w)`` and the box of ``img`` holding the picture."""

    ori_shape: tuple[int, int]
    box: tuple[float, float, float, float]


class SkippedImageWarning(UserWarning):
    """Warned when an unreadable image is skipped instead of stopping the run."""


def _backend_args_from_file_client(file_client_args: Optional[dict]) -> Optional[dict]:
    if file_client_args is None:
        return None
    backend = file_client_args.get("backend", "disk")
    if backend in ("disk", "local"):
        return None
    raise ValueError(
        f"file_client_args={file_client_args!r} is not supported; "
        "use backend_args (mmengine.fileio backends) for non-local storage"
    )


@transform_type
class LoadImageFromFile(BaseTransform):
    """Decode ``results['img_path']`` into ``results['img']`` (HWC uint8, BGR order, mmcv convention).

    Files are decoded by ``imret.io.open_image``: regular files only (a FIFO, socket or device is
    refused, never opened for reading), a pixel limit checked from the header, EXIF orientation
    applied, any mode (grey, palette, RGBA/LA composited on white, CMYK, 16-bit) turned into
    3-channel uint8. ``results['img_bytes']`` (an encoded image in memory, e.g. an upload) is
    decoded the same way. An ``img`` already present (an ndarray or a PIL image) is kept.
    Adds ``img_shape`` and ``ori_shape`` as ``(h, w)`` (``ori_shape``: the size in the file).

    When the next pipeline step is a resize with a known output size (``ResizeEdge``, ``Resize``),
    ``Compose`` and the inference pipeline set ``resize_plan`` to it: a JPEG is then decoded at the
    smallest 1/2, 1/4 or 1/8 scale still at least twice that large (draft mode; the resize then
    works from the size in the file and the exact region, so the output matches full decoding to
    about half a grey level on average), and an image whose resize would exceed the resize limit is
    refused before decoding.

    Args:
        to_float32: return a float32 array instead of uint8.
        color_type: ``'color'`` (HWC BGR), ``'grayscale'`` (HW), or either with ``_ignore_orientation``.
        imdecode_backend: only ``'pillow'``.
        ignore_empty: same as ``on_error='skip'`` (mmcv's name).
        on_error: ``'raise'`` an ``UnreadableImageError`` naming the file, or ``'skip'``: warn and
            return ``None`` so mmengine's dataset fetches another sample.
        backend_args: mmengine.fileio backend arguments for non-local storage.
        file_client_args: deprecated mmcv spelling; only the local disk backend is accepted.
        max_pixels: pixel limit (default ``$IMRET_MAX_PIXELS`` or 8192 x 8192; see ``imret.io.limits``).
        max_side_after_resize: resize limit checked with ``resize_plan`` (default
            ``$IMRET_MAX_SIDE_AFTER_RESIZE`` or 16384).
        draft: JPEG draft decoding with ``resize_plan`` (default ``$IMRET_JPEG_DRAFT`` or on).
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", imdecode_backend: str = "pillow",
                 ignore_empty: bool = False, on_error: str = "raise", backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None, max_pixels: Optional[int] = None,
                 max_side_after_resize: Optional[int] = None, draft: Optional[bool] = None) -> None:
        if color_type not in COLOR_TYPES:
            raise ValueError(f"LoadImageFromFile: color_type must be one of {', '.join(COLOR_TYPES)}; "
                             f"got {color_type!r}")
        if imdecode_backend != "pillow":
            raise ValueError(f"LoadImageFromFile: imret decodes images with Pillow only; got "
                             f"imdecode_backend={imdecode_backend!r}. Remove the argument or set it to 'pillow'.")
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"LoadImageFromFile: on_error must be 'raise' or 'skip'; got {on_error!r}")
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.ignore_empty = ignore_empty
        self.on_error = "skip" if ignore_empty else on_error
        self.backend_args = backend_args if backend_args else _backend_args_from_file_client(file_client_args)
        self.max_pixels = max_pixels
        self.max_side_after_resize = max_side_after_resize
        self.draft = draft
        self.resize_plan: Optional[Callable[[int, int], tuple[int, int]]] = None

    def _from_memory(self, img: object) -> np.ndarray:
        if isinstance(img, np.ndarray):
            return img
        if isinstance(img, Image.Image):
            check_pixels(img.width, img.height, "<in-memory image>", self.max_pixels)
            return image_to_bgr(img, grayscale=self.color_type.startswith("grayscale"))
        raise TypeError(f"LoadImageFromFile: results['img'] must be a numpy array or a PIL image; "
                        f"got {type(img).__name__}")

    def transform(self, results: dict) -> Optional[dict]:
        if results.get("img") is not None:
            img = self._from_memory(results["img"])
            results["img"] = img
            results.setdefault("ori_shape", img.shape[:2])
            results.setdefault("img_shape", img.shape[:2])
            return results
        path = results.get("img_path")
        data = results.get("img_bytes")
        if path is None and data is None:
            raise KeyError(f"LoadImageFromFile needs results['img_path'], results['img_bytes'] or an in-memory "
                           f"results['img']; got keys {sorted(results)}")
        try:
            image = self._open(path, data)
        except UnreadableImageError as exc:
            if self.on_error == "skip":
                warnings.warn(f"{exc}; skipped (on_error='skip')", SkippedImageWarning, stacklevel=2)
                return None
            raise
        img = image_to_bgr(image, grayscale=self.color_type.startswith("grayscale"))
        if self.to_float32:
            img = img.astype(np.float32)
        width, height = image.info.get(ORIGINAL_SIZE_KEY, image.size)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = (height, width)
        box = image.info.get(DRAFT_BOX_KEY)
        if box is not None:  # the planned resize goes by the size in the file and resizes this box
            results[DRAFT_KEY] = DraftDecoded((height, width), box)
        return results

    def _open(self, path: Optional[str], data: Optional[bytes]) -> Image.Image:
        name = None if path is None else str(path)
        source = data
        if source is None:
            source = _remote_bytes(name, self.backend_args) if self.backend_args else path
        return open_image(source, name=name, max_pixels=self.max_pixels,
                          max_side_after_resize=self.max_side_after_resize, draft_size=self.resize_plan,
                          draft=self.draft, apply_orientation=not self.color_type.endswith("_ignore_orientation"))
