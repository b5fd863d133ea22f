"""``LoadImageFromFile``: the first pipeline step, turning ``img_path`` into ``img``."""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np
from PIL import Image

from imret.registry import TRANSFORMS

from .base import BaseTransform
from .decoding import COLOR_TYPES, UnreadableImageError, image_to_rgb, read_image, rgb_to_grey

ON_ERROR_CHOICES = ("raise", "skip")


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


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Decode ``results['img_path']`` into ``results['img']`` (HWC uint8, BGR order, mmcv convention).

    Pillow decodes every file; EXIF orientation is applied and any mode (grey, palette, RGBA/LA
    composited on white, CMYK, 16-bit) becomes 3-channel uint8 (see ``decoding``). Adds
    ``img_shape`` and ``ori_shape`` as ``(h, w)``. An ``img`` already present (in-memory input, an
    ndarray or a PIL image) is kept.

    Args:
        to_float32: return a float32 array instead of uint8.
        color_type: ``'color'`` (HWC BGR), ``'grayscale'`` (HW), or either with ``_ignore_orientation``.
        imdecode_backend: only ``'pillow'``.
        ignore_empty: same as ``on_error='skip'`` (mmcv's name).
        on_error: ``'raise'`` an ``UnreadableImageError`` naming the file, or ``'skip'``: warn and
            return ``None`` so mmengine's dataset fetches another sample.
        backend_args: mmengine.fileio backend arguments for non-local storage.
        file_client_args: deprecated mmcv spelling; only the local disk backend is accepted.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", imdecode_backend: str = "pillow",
                 ignore_empty: bool = False, on_error: str = "raise", backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None) -> None:
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

    def _from_memory(self, img: object) -> np.ndarray:
        if isinstance(img, np.ndarray):
            return img
        if isinstance(img, Image.Image):
            rgb = image_to_rgb(img)
            return rgb_to_grey(rgb) if self.color_type.startswith("grayscale") else np.ascontiguousarray(rgb[..., ::-1])
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
        if path is None:
            raise KeyError(f"LoadImageFromFile needs results['img_path'] or an in-memory results['img']; "
                           f"got keys {sorted(results)}")
        try:
            img = read_image(path, self.color_type, self.backend_args)
        except UnreadableImageError as exc:
            if self.on_error == "skip":
                warnings.warn(f"{exc}; skipped (on_error='skip')", SkippedImageWarning, stacklevel=2)
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results
