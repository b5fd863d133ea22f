"""Running top-k over blocks of scores, and a deterministic final order."""
from __future__ import annotations

from typing import Callable

import torch


class RunningTopK:
    """Keeps the ``k`` largest scores per row seen over a stream of score blocks.

    Block winners are buffered and merged every few blocks, so the merge cost stays small.
    """

    def __init__(self, num_rows: int, k: int, device: torch.device | None = None,
                 dtype: torch.dtype = torch.float32, merge_every: int = 8) -> None:
        self.k = k
        self.merge_every = merge_every
        self.scores = torch.empty((num_rows, 0), dtype=dtype, device=device)
        self.index = torch.empty((num_rows, 0), dtype=torch.long, device=device)
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def push(self, block_scores: torch.Tensor, start: int) -> None:
        """Offer a (rows, B) block whose column 0 is gallery row ``start``.

        Of equal scores at the cut, the lowest columns are kept.
        """
        width = block_scores.shape[1]
        take = min(self.k, width)
        if take < width:
            values, index = torch.topk(block_scores, take + 1, dim=1, sorted=True)
            values, index = settle_cut(values, index, take, lambda rows: block_scores[rows])
        else:
            values = block_scores.clone()
            index = torch.arange(width, device=block_scores.device).expand_as(block_scores).clone()
        self.push_selected(values, index.add_(start))

    def push_transposed(self, block_scores: torch.Tensor, start: int) -> None:
        """Like :meth:`push` for a (B, rows) block (gallery rows first), cheaper to compute for few queries."""
        width = block_scores.shape[0]
        take = min(self.k, width)
        if take == width:
            self.push(block_scores.T, start)
            return
        values, index = torch.topk(block_scores, take + 1, dim=0, sorted=True)
        values, index = settle_cut(values.T, index.T, take, lambda rows: block_scores[:, rows].T)
        self.push_selected(values, index.add_(start))

    def push_selected(self, values: torch.Tensor, index: torch.Tensor) -> None:
        """Offer candidates already picked from a block, with their gallery indices."""
        if values.shape[1] > self.k:
            values, where = torch.topk(values, self.k, dim=1, sorted=False)
            index = torch.gather(index, 1, where)
        self._pending.append((values, index))
        if len(self._pending) >= self.merge_every:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        scores = torch.cat([self.scores] + [v for v, _ in self._pending], dim=1)
        index = torch.cat([self.index] + [i for _, i in self._pending], dim=1)
        self._pending = []
        keep = min(self.k, scores.shape[1])
        if keep == scores.shape[1]:
            self.scores, self.index = scores, index
            return
        where = score_order(scores, index)[:, :keep]
        self.scores, self.index = torch.gather(scores, 1, where), torch.gather(index, 1, where)

    def result(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scores, indices) of the kept entries, unordered."""
        self._merge()
        return self.scores, self.index


def lowest_columns(row: torch.Tensor, take: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``take`` best entries of a 1-D row, lowest column first among equal scores."""
    order = torch.sort(row, descending=True, stable=True).indices[:take]
    return row[order], order


def settle_cut(values: torch.Tensor, index: torch.Tensor, take: int,
               full_rows: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The best ``take`` of per-row candidates ``(values, index)``, ``take + 1`` of them best first.

    Where the last kept and the first dropped candidate score the same, which of the equal scores a
    top-k routine kept is arbitrary; those rows are redone from ``full_rows(rows)`` (all their
    scores, one row each) keeping the lowest columns, as the engine's contract says.
    """
    tied = (values[:, take] == values[:, take - 1]).nonzero().squeeze(1)
    values, index = values[:, :take].contiguous(), index[:, :take].contiguous()
    if tied.numel():
        for row, scores in zip(tied.tolist(), full_rows(tied)):
            values[row], index[row] = lowest_columns(scores, take)
    return values, index


def score_order(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Per-row permutation sorting by descending score, lower gallery index first on equal scores."""
    by_index = torch.argsort(index, dim=1)
    by_score = torch.sort(torch.gather(scores, 1, by_index), dim=1, descending=True, stable=True).indices
    return torch.gather(by_index, 1, by_score)


def order_by_score(scores: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by descending score; equal scores keep the lower gallery index first."""
    perm = score_order(scores, index)
    return torch.gather(scores, 1, perm), torch.gather(index, 1, perm)
