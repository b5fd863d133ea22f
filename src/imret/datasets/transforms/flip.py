"""``RandomFlip`` (mmcv): mirror the image horizontally, vertically or both, at random."""
from __future__ import annotations

from numbers import Real
from typing import List, Optional, Sequence, Union

import numpy as np


from .base import BaseTransform, require_image
from .types import transform_type

DIRECTIONS = ("horizontal", "vertical", "diagonal")
_AXES = {"horizontal": (1,), "vertical": (0,), "diagonal": (0, 1)}


def flip_image(img: np.ndarray, direction: str) -> np.ndarray:
    """``img`` mirrored along ``direction`` (``diagonal`` = both axes), as a contiguous array."""
    if direction not in _AXES:
        raise ValueError(f"flip direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    return np.ascontiguousarray(np.flip(img, axis=_AXES[direction]))


@transform_type
class RandomFlip(BaseTransform):
    """Flip ``img`` with probability ``prob`` along ``direction``.

    ``direction`` may be a list: with one ``prob`` each direction gets ``prob / len(direction)``;
    with a list of probabilities (summing to <= 1) each gets its own. Sets ``flip`` (bool) and
    ``flip_direction`` (the direction or ``None``). Draws from ``np.random``.
    """

    def __init__(self, prob: Union[float, Sequence[float]] = 0.5,
                 direction: Union[str, Sequence[str]] = "horizontal") -> None:
        directions = [direction] if isinstance(direction, str) else list(direction)
        if not directions or any(d not in DIRECTIONS for d in directions):
            raise ValueError(f"RandomFlip: direction must be one of {', '.join(DIRECTIONS)} or a list of them; "
                             f"got {direction!r}")
        if isinstance(prob, Real) and not isinstance(prob, bool):
            probs = [float(prob) / len(directions)] * len(directions)
        elif isinstance(prob, Sequence) and len(prob) == len(directions):
            probs = [float(p) for p in prob]
        else:
            raise ValueError(f"RandomFlip: prob must be a number or one number per direction; got {prob!r} "
                             f"for direction {direction!r}")
        if any(p < 0 for p in probs) or sum(probs) > 1 + 1e-9:
            raise ValueError(f"RandomFlip: probabilities must be >= 0 and sum to <= 1; got {prob!r}")
        self.prob = prob
        self.direction = direction
        self._directions: List[str] = directions
        self._probs: List[float] = probs

    def choose_direction(self) -> Optional[str]:
        """One draw: a direction, or ``None`` for no flip."""
        draw = np.random.random_sample()
        cumulative = 0.0
        for direction, prob in zip(self._directions, self._probs):
            cumulative += prob
            if draw < cumulative:
                return direction
        return None

    def transform(self, results: dict) -> dict:
        require_image(results, "RandomFlip")
        direction = self.choose_direction()
        if direction is not None:
            results["img"] = flip_image(results["img"], direction)
        results["flip"] = direction is not None
        results["flip_direction"] = direction
        return results
