"""``ResizeEdge`` (mmpretrain): scale one edge to a length, keeping the aspect ratio."""
from __future__ import annotations

from numbers import Integral
from typing import Optional, Tuple

from imret.io import check_resize

from .base import BaseTransform, require_image
from .loading import DRAFT_KEY
from .resizing import check_resize_options, resize_image
from .types import transform_type

EDGES = ("short", "long", "width", "height")


def edge_size(width: int, height: int, scale: int, edge: str) -> Tuple[int, int]:
    """Target ``(width, height)``: the chosen edge becomes ``scale``, the other is truncated (mmpretrain)."""
    resize_width = edge == "width" or (edge == "short" and width < height) or (edge == "long" and width > height)
    if resize_width:
        return scale, max(1, int(scale * height / width))
    return max(1, int(scale * width / height)), scale


@transform_type
class ResizeEdge(BaseTransform):
    """Resize so that the ``edge`` (``short``, ``long``, ``width`` or ``height``) equals ``scale``.

    The other edge is ``int(scale * other / edge)`` (truncated, as mmpretrain): 640x480 with
    ``scale=256, edge='short'`` gives 341x256 (w x h). A square image counts its height as the short
    and the long edge. Sets ``img_shape`` (h, w), ``scale`` (w, h) and ``scale_factor``.

    A result with a side longer than ``max_side_after_resize`` (default ``$IMRET_MAX_SIDE_AFTER_RESIZE``
    or 16384) or more pixels than the pixel limit is refused with ``imret.io.ImageTooLargeError``
    before any pixel is resized: an 84-byte 4000x1 PNG would otherwise become 1,024,000x256.
    """

    def __init__(self, scale: int, edge: str = "short", interpolation: str = "bilinear",
                 backend: str = "pillow", max_side_after_resize: Optional[int] = None) -> None:
        if isinstance(scale, bool) or not isinstance(scale, Integral) or scale < 1:
            raise ValueError(f"ResizeEdge: scale must be a positive int; got {scale!r}")
        if edge not in EDGES:
            raise ValueError(f"ResizeEdge: edge must be one of {', '.join(EDGES)}; got {edge!r}")
        check_resize_options("ResizeEdge", interpolation, backend)
        self.scale = int(scale)
        self.edge = edge
        self.interpolation = interpolation
        self.backend = backend
        self.max_side_after_resize = max_side_after_resize

    def planned_size(self, width: int, height: int) -> Tuple[int, int]:
        """The ``(w, h)`` an image of ``width`` x ``height`` is resized to."""
        return edge_size(width, height, self.scale, self.edge)

    def transform(self, results: dict) -> dict:
        require_image(results, "ResizeEdge")
        img = results["img"]
        height, width = img.shape[:2]
        # after draft decoding, plan from the size in the file so the output matches full decoding
        drafted = results.pop(DRAFT_KEY, None)
        planned_from = drafted.ori_shape if drafted else (height, width)
        new_w, new_h = self.planned_size(planned_from[1], planned_from[0])
        check_resize((width, height), (new_w, new_h), results.get("img_path"), self.max_side_after_resize)
        results["img"] = resize_image(img, (new_w, new_h), self.interpolation, self.backend,
                                     box=drafted.box if drafted else None)
        results["img_shape"] = (new_h, new_w)
        results["scale"] = (new_w, new_h)
        results["scale_factor"] = (new_w / width, new_h / height)
        return results
