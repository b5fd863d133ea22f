"""The re-ranking interface: reorder each query's shortlist of gallery rows."""
from __future__ import annotations

import abc
from typing import Optional

import numpy as np

from .gallery_view import GalleryView


class Reranker(abc.ABC):
    """Reorders a top-K shortlist per query; may consult the gallery through index searches.

    Implementations never build a gallery x gallery matrix: they read the shortlist's vectors and
    run searches through ``gallery``. Output scores are larger-is-better and NaN-free; equal scores
    keep the lower gallery row first.
    """

    #: registry name (``imret search --rerank NAME:...``)
    name: str = ""

    @abc.abstractmethod
    def rerank(self, queries: np.ndarray, scores: np.ndarray, rows: np.ndarray, gallery: GalleryView,
               exclude: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """New ``(scores, rows)`` (Q, K') best first, from the shortlist ``(scores, rows)`` (Q, K).

        ``queries`` (Q, C) are the query vectors as searched; ``exclude`` (Q,) optionally names one
        gallery row per query that must never be returned (the query itself in leave-one-out runs;
        -1 for none).
        """

    def params(self) -> dict:
        """The parameters, as recorded and printed (``{'k': 2}``)."""
        return {}

    def describe(self) -> str:
        """``name:key=value,...`` - the same text ``parse_rerank`` accepts."""
        params = ",".join(f"{key}={value}" for key, value in self.params().items())
        return f"{self.name}:{params}" if params else self.name
