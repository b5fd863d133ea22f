"""``BaseTransform``: the interface every pipeline step follows (mmcv-compatible)."""
from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Optional


class BaseTransform(metaclass=ABCMeta):
    """A pipeline step: takes the ``results`` dict and returns it, or ``None`` to drop the sample.

    Returning ``None`` tells mmengine's ``BaseDataset`` to fetch another sample instead.
    """

    def __call__(self, results: dict) -> Optional[dict]:
        return self.transform(results)

    @abstractmethod
    def transform(self, results: dict) -> Optional[dict]:
        """Transform ``results`` in place and return it (or ``None``)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.startswith("_"))
        return f"{type(self).__name__}({args})"


def require_image(results: dict, transform: str) -> None:
    """Raise ``KeyError`` saying which transform needs ``results['img']`` when it is missing."""
    if results.get("img") is None:
        raise KeyError(
            f"{transform} needs results['img'] (an HWC image array); got keys {sorted(results)}. "
            "Put LoadImageFromFile before it in the pipeline."
        )
