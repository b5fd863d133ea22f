"""Ground truth as gallery indices from labels shared by queries and gallery."""
from __future__ import annotations

from collections.abc import Hashable
from typing import Sequence, Union

ExcludeSpec = Union[bool, Sequence[Sequence[int]]]


def labels_to_gallery_indices(query_labels: Sequence[Hashable], gallery_labels: Sequence[Hashable],
                              exclude_self: ExcludeSpec = False) -> list[list[int]]:
    """For each query, the sorted indices of the gallery items that carry its label.

    ``exclude_self``: ``False`` keeps every match; ``True`` means query ``i`` is gallery item ``i``
    (same images, same order) and drops index ``i`` from query ``i``; a sequence gives, per query,
    the gallery indices that are the query itself, all dropped. ``None`` labels never match.
    """
    groups: dict[Hashable, list[int]] = {}
    for index, label in enumerate(gallery_labels):
        if label is not None:
            groups.setdefault(label, []).append(index)
    if exclude_self is True:
        if len(query_labels) != len(gallery_labels):
            raise ValueError(f"exclude_self=True needs the query set to be the gallery, but there are "
                             f"{len(query_labels)} queries and {len(gallery_labels)} gallery items")
        excluded: Sequence[Sequence[int]] = [[i] for i in range(len(query_labels))]
    elif exclude_self is False:
        excluded = [[] for _ in query_labels]
    else:
        excluded = exclude_self
        if len(excluded) != len(query_labels):
            raise ValueError(f"exclude_self lists {len(excluded)} entries for {len(query_labels)} queries")
    result = []
    for label, own in zip(query_labels, excluded):
        matches = groups.get(label, []) if label is not None else []
        drop = set(own)
        result.append([index for index in matches if index not in drop] if drop else list(matches))
    return result
