"""Exact search over several gallery indexes (shards) as if they were one.

Each shard returns its own top-k; the per-shard lists are merged by score with the engine's tie rule
(:func:`imret.matching.topk_merge.order_by_score`). Ranking equal scores by (shard, rank in shard)
gives exactly the order of one index holding the shards' rows one shard after the other.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from ..utils.provenance import provenance_differences
from .backend import IndexBackend, SearchResult
from .errors import UnknownIdError


class ShardedIndex:
    """The search part of the index interface over several indexes with the same model, dim and metric.

    Ids must be unique across shards (checked when ``check_ids``).
    """

    def __init__(self, shards: Sequence[IndexBackend], check_ids: bool = True) -> None:
        if not shards:
            raise ValueError("ShardedIndex needs at least one shard")
        self.shards = list(shards)
        first = self.shards[0]
        for shard in self.shards[1:]:
            name = _name(shard)
            if shard.dim != first.dim or shard.metric != first.metric:
                raise ValueError(f"shard {name} has dim {shard.dim} and metric {shard.metric!r}, shard "
                                 f"{_name(first)} has dim {first.dim} and metric {first.metric!r}")
            differing = provenance_differences(first.provenance, shard.provenance)
            if differing:
                raise ValueError(f"shard {name} was built with a different provenance than {_name(first)} "
                                 f"({', '.join(differing)} differ); index every shard with the same model")
        if check_ids:
            owner: dict[str, int] = {}
            for number, shard in enumerate(self.shards):
                for item_id in _ids(shard):
                    if owner.setdefault(item_id, number) != number:
                        raise ValueError(f"id {item_id!r} is in shard {_name(self.shards[owner[item_id]])} and in "
                                         f"shard {_name(shard)}; shards must hold disjoint ids")

    @property
    def uri(self) -> str:
        return " + ".join(_name(shard) for shard in self.shards)

    @property
    def dim(self) -> int:
        return self.shards[0].dim

    @property
    def metric(self) -> str:
        return self.shards[0].metric

    @property
    def provenance(self) -> dict:
        return dict(self.shards[0].provenance)

    def __len__(self) -> int:
        return sum(len(shard) for shard in self.shards)

    def __contains__(self, item_id: object) -> bool:
        return any(item_id in shard for shard in self.shards)

    def iter_ids(self) -> Iterator[str]:
        for shard in self.shards:
            yield from _ids(shard)

    def get_metadata(self, ids: Sequence[str]) -> list[dict]:
        out = []
        for item_id in ids:
            shard = next((s for s in self.shards if item_id in s), None)
            if shard is None:
                raise UnknownIdError(f"get_metadata: id {item_id!r} is in none of the shards {self.uri}")
            out.extend(shard.get_metadata([item_id]))
        return out

    def search(self, queries: Any, k: int, **params: Any) -> SearchResult:
        """Best ``k`` items per query over all shards; ``params`` go to every shard's search."""
        from ..matching.array_topk import order_arrays

        if not isinstance(k, int) or k <= 0:
            raise ValueError(f"search: k must be a positive integer, got {k!r}")
        results = [shard.search(queries, k, **params) for shard in self.shards]
        num_queries = results[0].scores.shape[0]
        take = min(k, len(self))
        width = max([r.scores.shape[1] for r in results] + [1])
        scores = np.concatenate([r.scores for r in results], axis=1).astype(np.float32, copy=False)
        # position key (shard, rank within shard) encodes the union index's row order
        keys = np.concatenate([np.arange(r.scores.shape[1]) + number * width for number, r in enumerate(results)])
        merged_scores, order = order_arrays(scores, np.tile(keys, (num_queries, 1)))
        merged_scores, order = merged_scores[:, :take], order[:, :take]
        ids, metas = [], []
        for query, row in enumerate(order):
            hit_ids, hit_meta = [], []
            for key, score in zip(row, merged_scores[query]):
                number, rank = divmod(int(key), width)
                found = results[number]
                if rank >= len(found.ids[query]) or not np.isfinite(score):
                    continue  # a shard found fewer than k (approximate index)
                hit_ids.append(found.ids[query][rank])
                hit_meta.append(found.metadata[query][rank])
            ids.append(hit_ids)
            metas.append(hit_meta)
        return SearchResult(merged_scores, ids, metas)


def _name(shard: IndexBackend) -> str:
    return shard.uri


def _ids(shard: IndexBackend) -> Iterator[str]:
    return shard.iter_ids()
