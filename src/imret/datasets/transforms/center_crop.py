"""``CenterCrop`` (mmcv): cut the central ``(w, h)`` window."""
from __future__ import annotations

from numbers import Integral
from typing import Optional, Sequence, Tuple, Union


from .base import BaseTransform, require_image
from .padding import check_pad_value, pad_image
from .types import transform_type


def crop_pair(owner: str, size: Union[int, Sequence[int]], order: str) -> Tuple[int, int]:
    """An int ``n`` -> ``(n, n)``; a pair is kept in the caller's ``order`` (used in messages)."""
    pair = (size, size) if isinstance(size, Integral) else tuple(size) if isinstance(size, Sequence) else ()
    if len(pair) != 2 or not all(isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"{owner}: crop size must be a positive int or a pair {order} of positive ints; "
                         f"got {size!r}")
    return int(pair[0]), int(pair[1])


def center_offset(length: int, crop: int) -> int:
    """Start of a centred window, rounded as mmcv (Python's ``round``, ties to even)."""
    return max(0, int(round((length - crop) / 2.0)))


@transform_type
class CenterCrop(BaseTransform):
    """Crop the centre ``crop_size = (w, h)`` (an int means square) of ``img``.

    The offset is ``round((size - crop) / 2)``. An image smaller than the crop is cropped to its own
    size along that edge, unless ``auto_pad=True``: then it is first padded on the right/bottom to the
    crop size (``pad_cfg`` may give ``pad_val`` and ``padding_mode``, as mmcv's ``Pad``).
    """

    def __init__(self, crop_size: Union[int, Sequence[int]], auto_pad: bool = False,
                 pad_cfg: Optional[dict] = None) -> None:
        self.crop_size = crop_pair("CenterCrop", crop_size, "(w, h)")
        self.auto_pad = auto_pad
        self.pad_cfg = dict(pad_cfg or {})
        pad_val = self.pad_cfg.get("pad_val", 0)
        self._pad_val = pad_val.get("img", 0) if isinstance(pad_val, dict) else pad_val
        check_pad_value("CenterCrop", self._pad_val)
        self._padding_mode = self.pad_cfg.get("padding_mode", "constant")

    def transform(self, results: dict) -> dict:
        require_image(results, "CenterCrop")
        img = results["img"]
        crop_w, crop_h = self.crop_size
        height, width = img.shape[:2]
        if self.auto_pad and (crop_h > height or crop_w > width):
            img = pad_image(img, (0, 0, max(0, crop_w - width), max(0, crop_h - height)),
                            self._pad_val, self._padding_mode)
            height, width = img.shape[:2]
        crop_w, crop_h = min(crop_w, width), min(crop_h, height)
        top, left = center_offset(height, crop_h), center_offset(width, crop_w)
        img = img[top:top + crop_h, left:left + crop_w]
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        return results
