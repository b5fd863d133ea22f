"""``pad_image``: border padding shared by the crop transforms."""
from __future__ import annotations

from numbers import Real
from typing import Sequence, Tuple, Union

import numpy as np

PADDING_MODES = ("constant", "edge", "reflect", "symmetric")

PadValue = Union[Real, Sequence[Real]]


def check_pad_value(owner: str, pad_val: PadValue) -> None:
    """Raise ``ValueError`` naming ``owner`` unless ``pad_val`` is a number or a sequence of numbers."""
    values = pad_val if isinstance(pad_val, Sequence) and not isinstance(pad_val, str) else [pad_val]
    if not values or not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{owner}: pad_val must be a number or one number per channel; got {pad_val!r}")


def pad_image(img: np.ndarray, borders: Tuple[int, int, int, int], pad_val: PadValue = 0,
              padding_mode: str = "constant") -> np.ndarray:
    """Pad ``img`` by ``borders = (left, top, right, bottom)`` pixels.

    ``padding_mode``: ``constant`` (``pad_val``, a number or one per channel), ``edge``,
    ``reflect`` (mirror without the edge pixel) or ``symmetric`` (mirror with it), as ``np.pad``.
    """
    left, top, right, bottom = (int(b) for b in borders)
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"padding must be >= 0 on every side; got (left, top, right, bottom)={borders}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {padding_mode!r}")
    if not (left or top or right or bottom):
        return img
    if padding_mode != "constant":
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (img.ndim - 2)
        return np.pad(img, widths, mode=padding_mode)
    height, width = img.shape[:2]
    out_shape = (height + top + bottom, width + left + right) + img.shape[2:]
    fill = np.asarray(pad_val, dtype=np.float64)
    channels = img.shape[2] if img.ndim == 3 else 1
    if fill.ndim and fill.size not in (1, channels):
        raise ValueError(f"pad_val has {fill.size} values but the image has {channels} channels")
    out = np.empty(out_shape, dtype=img.dtype)
    out[...] = fill.reshape(-1)[0] if fill.size == 1 else fill.astype(img.dtype)
    out[top:top + height, left:left + width] = img
    return out
