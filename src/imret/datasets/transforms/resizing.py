"""``resize_image``: the pixel work shared by the resize and crop transforms.

Backends: ``'pillow'`` (default; antialiased when shrinking, like torchvision/timm pipelines) and
``'cv2'`` (OpenCV, mmcv's default, for bit-level parity with mmcv-trained models).
Interpolations: ``nearest``, ``bilinear``, ``bicubic``, ``area`` (Pillow: box filter), ``lanczos``.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from PIL import Image

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")
BACKENDS = ("pillow", "cv2")

_PILLOW_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}


def check_resize_options(owner: str, interpolation: str, backend: str) -> None:
    """Raise ``ValueError`` naming ``owner`` when the interpolation or backend is unknown."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{owner}: interpolation must be one of {', '.join(INTERPOLATIONS)}; "
                         f"got {interpolation!r}")
    if backend not in BACKENDS:
        raise ValueError(f"{owner}: backend must be one of {', '.join(BACKENDS)}; got {backend!r}")


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


Box = Tuple[float, float, float, float]


def _resize_pillow(img: np.ndarray, size: Tuple[int, int], interpolation: str, box: Optional[Box]) -> np.ndarray:
    resample = _PILLOW_FILTERS[interpolation]
    if img.dtype == np.uint8 and (img.ndim == 2 or img.shape[2] == 3):
        return np.asarray(Image.fromarray(img).resize(size, resample=resample, box=box))
    planes = img[..., None] if img.ndim == 2 else img
    resized = [np.asarray(Image.fromarray(planes[..., c].astype(np.float32)).resize(size, resample=resample,
                                                                                     box=box))
               for c in range(planes.shape[2])]
    out = _cast_like(np.stack(resized, axis=2), img.dtype)
    return out[..., 0] if img.ndim == 2 else out


def _resize_cv2(img: np.ndarray, size: Tuple[int, int], interpolation: str) -> np.ndarray:
    import cv2

    flags = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
             "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}
    out = cv2.resize(img, size, interpolation=flags[interpolation])
    if img.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def _crop_to_box(img: np.ndarray, box: Box) -> np.ndarray:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return img[max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)]


def resize_image(img: np.ndarray, size: Tuple[int, int], interpolation: str = "bilinear",
                 backend: str = "pillow", box: Optional[Box] = None) -> np.ndarray:
    """Resize an HW or HWC array to ``size = (width, height)``; the same size returns the input.

    ``box = (x0, y0, x1, y1)`` (fractional) resizes only that region of ``img``, as Pillow's
    ``Image.resize(box=)`` (the cv2 backend rounds it to whole pixels).
    """
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"cannot resize an image to {width}x{height} (width x height); both must be >= 1")
    check_resize_options("resize_image", interpolation, backend)
    if box is not None and tuple(box) == (0, 0, img.shape[1], img.shape[0]):
        box = None
    if box is None and (height, width) == tuple(img.shape[:2]):
        return img
    if backend == "cv2":
        return _resize_cv2(img if box is None else _crop_to_box(img, box), (width, height), interpolation)
    return _resize_pillow(img, (width, height), interpolation, box)
