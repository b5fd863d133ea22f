"""``RandomCrop`` (mmpretrain): cut a window at a random place, optionally after padding."""
from __future__ import annotations

import math
from numbers import Integral
from typing import Optional, Sequence, Tuple, Union

import numpy as np


from .base import BaseTransform, require_image
from .center_crop import crop_pair
from .padding import PADDING_MODES, PadValue, check_pad_value, pad_image
from .types import transform_type


def _borders(padding: Union[int, Sequence[int]]) -> Tuple[int, int, int, int]:
    if isinstance(padding, Integral) and not isinstance(padding, bool):
        values = (padding,) * 4
    elif isinstance(padding, Sequence) and len(padding) == 2:
        values = (padding[0], padding[1], padding[0], padding[1])
    elif isinstance(padding, Sequence) and len(padding) == 4:
        values = tuple(padding)
    else:
        raise ValueError("RandomCrop: padding must be an int, (left/right, top/bottom) or "
                         f"(left, top, right, bottom); got {padding!r}")
    if not all(isinstance(v, Integral) and v >= 0 for v in values):
        raise ValueError(f"RandomCrop: padding values must be non-negative ints; got {padding!r}")
    return tuple(int(v) for v in values)


@transform_type
class RandomCrop(BaseTransform):
    """Crop a random ``crop_size = (h, w)`` window (an int means square; note: (h, w) as mmpretrain).

    ``padding`` (int, (lr, tb) or (l, t, r, b)) is added first; ``pad_if_needed`` then pads both
    sides of an edge shorter than the crop by ``ceil(missing / 2)``. An image still smaller than the
    crop is cropped to its own size. ``pad_val`` (number or per channel) and ``padding_mode``
    (constant, edge, reflect, symmetric) as ``np.pad``. Offsets come from ``np.random`` (seeded by
    mmengine's ``randomness`` config).
    """

    def __init__(self, crop_size: Union[int, Sequence[int]], padding: Optional[Union[int, Sequence[int]]] = None,
                 pad_if_needed: bool = False, pad_val: PadValue = 0, padding_mode: str = "constant") -> None:
        self.crop_size = crop_pair("RandomCrop", crop_size, "(h, w)")
        self.padding = None if padding is None else _borders(padding)
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {', '.join(PADDING_MODES)}; "
                             f"got {padding_mode!r}")
        check_pad_value("RandomCrop", pad_val)
        self.pad_if_needed = pad_if_needed
        self.pad_val = pad_val
        self.padding_mode = padding_mode

    def crop_params(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """Random ``(top, left, crop_h, crop_w)`` inside a ``height`` x ``width`` image."""
        crop_h, crop_w = min(self.crop_size[0], height), min(self.crop_size[1], width)
        if (crop_h, crop_w) == (height, width):
            return 0, 0, height, width
        top = int(np.random.randint(0, height - crop_h + 1))
        left = int(np.random.randint(0, width - crop_w + 1))
        return top, left, crop_h, crop_w

    def transform(self, results: dict) -> dict:
        require_image(results, "RandomCrop")
        img = results["img"]
        if self.padding is not None:
            img = pad_image(img, self.padding, self.pad_val, self.padding_mode)
        if self.pad_if_needed:
            pad_h = math.ceil(max(0, self.crop_size[0] - img.shape[0]) / 2)
            pad_w = math.ceil(max(0, self.crop_size[1] - img.shape[1]) / 2)
            img = pad_image(img, (pad_w, pad_h, pad_w, pad_h), self.pad_val, self.padding_mode)
        top, left, crop_h, crop_w = self.crop_params(*img.shape[:2])
        img = img[top:top + crop_h, left:left + crop_w]
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        return results
