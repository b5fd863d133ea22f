"""``RandomResizedCrop`` (mmpretrain): a random area and aspect-ratio window, resized to ``scale``."""
from __future__ import annotations

import math
from numbers import Integral
from typing import Sequence, Tuple, Union

import numpy as np


from .base import BaseTransform, require_image
from .center_crop import crop_pair
from .resizing import check_resize_options, resize_image
from .types import transform_type


def _check_range(name: str, value: Sequence[float]) -> Tuple[float, float]:
    if not isinstance(value, Sequence) or len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f"RandomResizedCrop: {name} must be (min, max) with 0 < min <= max; got {value!r}")
    return float(value[0]), float(value[1])


@transform_type
class RandomResizedCrop(BaseTransform):
    """Crop a window of random area and aspect ratio, then resize it to ``scale = (h, w)``.

    Each of ``max_attempts`` draws an area fraction from ``crop_ratio_range`` and a log-uniform
    aspect ratio (w / h) from ``aspect_ratio_range``; the first window that fits is used at a
    uniform random offset. Otherwise the largest centred window whose ratio is clamped into the range
    is used. Randomness comes from ``np.random`` (seeded by mmengine's ``randomness`` config).
    """

    def __init__(self, scale: Union[int, Sequence[int]], crop_ratio_range: Sequence[float] = (0.08, 1.0),
                 aspect_ratio_range: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0), max_attempts: int = 10,
                 interpolation: str = "bilinear", backend: str = "pillow") -> None:
        self.scale = crop_pair("RandomResizedCrop", scale, "(h, w)")
        self.crop_ratio_range = _check_range("crop_ratio_range", crop_ratio_range)
        self.aspect_ratio_range = _check_range("aspect_ratio_range", aspect_ratio_range)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, Integral) or max_attempts < 0:
            raise ValueError(f"RandomResizedCrop: max_attempts must be an int >= 0; got {max_attempts!r}")
        check_resize_options("RandomResizedCrop", interpolation, backend)
        self.max_attempts = int(max_attempts)
        self.interpolation = interpolation
        self.backend = backend

    def crop_params(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """Random ``(top, left, crop_h, crop_w)`` inside a ``height`` x ``width`` image."""
        area = height * width
        log_low, log_high = (math.log(r) for r in self.aspect_ratio_range)
        for _ in range(self.max_attempts):
            target_area = np.random.uniform(*self.crop_ratio_range) * area
            ratio = math.exp(np.random.uniform(log_low, log_high))
            crop_w = int(round(math.sqrt(target_area * ratio)))
            crop_h = int(round(math.sqrt(target_area / ratio)))
            if 0 < crop_w <= width and 0 < crop_h <= height:
                top = int(np.random.randint(0, height - crop_h + 1))
                left = int(np.random.randint(0, width - crop_w + 1))
                return top, left, crop_h, crop_w
        low, high = self.aspect_ratio_range
        crop_h, crop_w = height, width
        if width / height < low:
            crop_h = min(height, max(1, int(round(width / low))))
        elif width / height > high:
            crop_w = min(width, max(1, int(round(height * high))))
        return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w

    def transform(self, results: dict) -> dict:
        require_image(results, "RandomResizedCrop")
        img = results["img"]
        top, left, crop_h, crop_w = self.crop_params(*img.shape[:2])
        out_h, out_w = self.scale
        img = resize_image(img[top:top + crop_h, left:left + crop_w], (out_w, out_h), self.interpolation,
                           self.backend)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        return results
