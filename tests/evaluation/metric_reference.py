"""Brute-force, one-query-at-a-time reference values for the retrieval metrics (test helper)."""
from __future__ import annotations

import math


def ranking(scores: list[float], ignored: set[int]) -> list[int]:
    """Gallery indices by descending score, ignored items removed (scores must be distinct)."""
    kept = [j for j in range(len(scores)) if j not in ignored]
    return sorted(kept, key=lambda j: -scores[j])


def recall_at(order: list[int], relevant: set[int], k: int) -> float:
    return 1.0 if any(j in relevant for j in order[:k]) else 0.0


def ap_at(order: list[int], relevant: set[int], k: int | None, mode: str) -> float:
    cut = order if k is None else order[:k]
    total, found = 0.0, 0
    for rank, j in enumerate(cut):
        if j in relevant:
            precision = (found + 1) / (rank + 1)
            if mode == "integrate":
                before = found / rank if rank > 0 else 1.0
                precision = (precision + before) / 2
            total += precision
            found += 1
    return total / len(relevant) if relevant else math.nan


def mean_percent(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return 100.0 * sum(kept) / len(kept)
