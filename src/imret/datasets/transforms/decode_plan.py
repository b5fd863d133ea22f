"""Telling the loading step the size the next step resizes to (JPEG draft decoding, early limits)."""
from __future__ import annotations

from typing import Sequence

from .loading import LoadImageFromFile


def link_resize_plan(transforms: Sequence[object]) -> None:
    """Give each ``LoadImageFromFile`` directly followed by a resize with ``planned_size`` that plan.

    Only deterministic resizes have ``planned_size`` (``ResizeEdge``, ``Resize``); random crops do
    not, so training augmentation always sees the fully decoded image.
    """
    for current, following in zip(transforms, transforms[1:]):
        if isinstance(current, LoadImageFromFile) and callable(getattr(following, "planned_size", None)):
            current.resize_plan = following.planned_size
