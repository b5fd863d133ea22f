"""``Resize`` (mmcv): to a fixed size, by a factor, or within bounds keeping the aspect ratio."""
from __future__ import annotations

from numbers import Integral, Real
from typing import Optional, Sequence, Tuple, Union

from imret.io import check_resize

from .base import BaseTransform, require_image
from .loading import DRAFT_KEY
from .resizing import check_resize_options, resize_image
from .types import transform_type


def _pair(value: Union[int, float, Sequence], name: str, kind: type) -> Tuple:
    if isinstance(value, Real) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, Sequence) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValueError(f"Resize: {name} must be a number or a pair of numbers; got {value!r}")
    if not all(isinstance(v, kind) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f"Resize: {name} must be positive {'integers' if kind is Integral else 'numbers'}; "
                         f"got {value!r}")
    return tuple(int(v) if kind is Integral else float(v) for v in pair)


def scale_size(width: int, height: int, factor: Tuple[float, float]) -> Tuple[int, int]:
    """``(width, height)`` scaled by ``factor = (fw, fh)``, rounded half up as mmcv does."""
    return max(1, int(width * factor[0] + 0.5)), max(1, int(height * factor[1] + 0.5))


def fit_size(width: int, height: int, bounds: Tuple[int, int]) -> Tuple[int, int]:
    """Largest aspect-preserving size whose long edge <= max(bounds) and short edge <= min(bounds)."""
    factor = min(max(bounds) / max(width, height), min(bounds) / min(width, height))
    return scale_size(width, height, (factor, factor))


@transform_type
class Resize(BaseTransform):
    """Resize ``img`` to ``scale`` ``(w, h)`` (an int means square) or by ``scale_factor``.

    With ``keep_ratio=True`` the image is scaled by one factor so that its long edge fits
    ``max(scale)`` and its short edge ``min(scale)`` (mmcv's ``imrescale``); sizes are rounded half up.
    ``scale`` wins when both are given. Sets ``img_shape`` (h, w), ``scale`` (w, h),
    ``scale_factor`` (new_w / w, new_h / h) and ``keep_ratio``. A result with a side longer than
    ``max_side_after_resize`` (default ``$IMRET_MAX_SIDE_AFTER_RESIZE`` or 16384) or more pixels
    than the pixel limit is refused with ``imret.io.ImageTooLargeError`` before resizing.
    """

    def __init__(self, scale: Optional[Union[int, Sequence[int]]] = None,
                 scale_factor: Optional[Union[float, Sequence[float]]] = None, keep_ratio: bool = False,
                 interpolation: str = "bilinear", backend: str = "pillow",
                 max_side_after_resize: Optional[int] = None) -> None:
        if scale is None and scale_factor is None:
            raise ValueError("Resize needs scale (w, h) or scale_factor; both are None")
        check_resize_options("Resize", interpolation, backend)
        self.scale = None if scale is None else _pair(scale, "scale", Integral)
        self.scale_factor = None if scale_factor is None else _pair(scale_factor, "scale_factor", Real)
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation
        self.backend = backend
        self.max_side_after_resize = max_side_after_resize

    def _target(self, width: int, height: int) -> Tuple[int, int]:
        return self.scale if self.scale is not None else scale_size(width, height, self.scale_factor)

    def planned_size(self, width: int, height: int) -> Tuple[int, int]:
        """The ``(w, h)`` an image of ``width`` x ``height`` is resized to."""
        target = self._target(width, height)
        return fit_size(width, height, target) if self.keep_ratio else target

    def transform(self, results: dict) -> dict:
        require_image(results, "Resize")
        img = results["img"]
        height, width = img.shape[:2]
        # after draft decoding, plan from the size in the file so the output matches full decoding
        drafted = results.pop(DRAFT_KEY, None)
        planned_from = drafted.ori_shape if drafted else (height, width)
        target = self._target(planned_from[1], planned_from[0])
        new_w, new_h = self.planned_size(planned_from[1], planned_from[0])
        check_resize((width, height), (new_w, new_h), results.get("img_path"), self.max_side_after_resize)
        results["img"] = resize_image(img, (new_w, new_h), self.interpolation, self.backend,
                                     box=drafted.box if drafted else None)
        results["img_shape"] = (new_h, new_w)
        results["scale"] = tuple(target)
        results["scale_factor"] = (new_w / width, new_h / height)
        results["keep_ratio"] = self.keep_ratio
        return results
