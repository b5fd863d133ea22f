"""Leave-one-out retrieval quality of a model (and re-ranking options) on a labelled folder.

The folder has one sub-folder per class; every image queries all the others, and the images of
its own class are the relevant ones. Scores come from the project's metric code
(:mod:`imret.evaluation`): mAP over the whole ranking and Recall@k.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from imret.evaluation.ranking import average_precision, recall_hits
from imret.matching import pairwise_similarity, rank_scores

RECALL_AT = (1, 5, 10)
QUERY_BLOCK = 512


@dataclass
class LabelledFolder:
    """Image paths of a labelled folder with their class index (classes = sorted sub-folder names)."""

    paths: list[str]
    labels: np.ndarray
    classes: list[str]


def read_labelled_folder(folder: str | os.PathLike) -> LabelledFolder:
    """Images under ``folder``/CLASS/... ; images directly in ``folder`` are an error naming one."""
    from .files import list_image_files

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"folder {folder} does not exist or is not a folder")
    paths = list_image_files(root)
    if not paths:
        raise ValueError(f"folder {folder} contains no images")
    names = []
    for path in paths:
        parts = Path(path).relative_to(root).parts
        if len(parts) < 2:
            raise ValueError(f"{path} is not inside a class sub-folder; {folder} needs one sub-folder per class")
        names.append(parts[0])
    classes = sorted(set(names))
    index = {name: i for i, name in enumerate(classes)}
    return LabelledFolder(paths, np.array([index[name] for name in names], dtype=np.int64), classes)


@dataclass
class Quality:
    """Leave-one-out retrieval scores in percent, and how many queries had a relevant image."""

    mAP: float
    recall: dict[int, float]
    queries: int
    skipped: int
    options: dict = field(default_factory=dict)
    #: mean number of relevant images among the first 3 results (UKBench N-S is 1 + this)
    relevant_in_top3: float = 0.0

    def to_json(self) -> dict:
        return {"mAP": round(self.mAP, 3), **{f"Recall@{k}": round(v, 3) for k, v in self.recall.items()},
                "queries": self.queries, "skipped_queries": self.skipped, **self.options}


def _full_orders(scores: torch.Tensor, first: Optional[np.ndarray]) -> torch.Tensor:
    """(B, N) gallery order per query: ``first`` rows (re-ranked shortlist) then the rest by score;
    the query's own row, scored -inf, comes last."""
    _, order = rank_scores(scores, None)
    if first is None:
        return order
    order_np = order.numpy()
    out = np.empty_like(order_np)
    for row in range(order_np.shape[0]):
        head = first[row]
        rest = order_np[row][~np.isin(order_np[row], head)]
        out[row] = np.concatenate([head, rest])
    return torch.from_numpy(out)


def leave_one_out(vectors: np.ndarray, labels: np.ndarray, metric: str = "cosine_similarity",
                  rerank: Any = None, shortlist: int = 100, dba: Optional[dict] = None,
                  recall_at: Sequence[int] = RECALL_AT) -> Quality:
    """mAP and Recall@k when every vector queries all the others (same label = relevant).

    ``rerank``: re-ranker(s) or their text form, applied to each query's ``shortlist`` (the rest of
    the gallery follows in score order, so mAP stays a whole-ranking figure). ``dba``:
    ``{'k': .., 'alpha': ..}`` augments the gallery side of the vectors first (queries stay as encoded).
    """
    from imret.rerank import GalleryView, dba_vectors, parse_reranks, rerank_search

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    labels = np.asarray(labels)
    total = len(vectors)
    if total < 2 or len(labels) != total:
        raise ValueError(f"leave-one-out needs at least 2 labelled vectors, got {total} vectors, {len(labels)} labels")
    rerankers = parse_reranks(rerank)
    gallery = dba_vectors(vectors, metric, dba["k"], dba.get("alpha", 0.0)) if dba else vectors
    view = GalleryView(gallery, metric) if rerankers else None
    label_t = torch.from_numpy(labels)
    aps, hits, top3 = [], [], []
    for start in range(0, total, QUERY_BLOCK):
        own = np.arange(start, min(total, start + QUERY_BLOCK))
        scores = pairwise_similarity(torch.from_numpy(vectors[own]), gallery, metric)
        scores[torch.arange(len(own)), torch.from_numpy(own)] = float("-inf")
        relevant = label_t[own][:, None] == label_t[None, :]
        relevant[torch.arange(len(own)), torch.from_numpy(own)] = False
        first = None
        if rerankers:
            _, first = rerank_search(vectors[own], view, rerankers, topk=min(shortlist, total - 1),
                                     shortlist=shortlist, exclude=own)
        order = _full_orders(scores, first)
        ranked = torch.gather(relevant, 1, order)
        num_relevant = relevant.sum(dim=1)
        aps.append(average_precision(ranked, num_relevant))
        block_hits = recall_hits(ranked, list(recall_at))
        block_hits[num_relevant == 0] = float("nan")
        hits.append(block_hits)
        top3.append(ranked[:, :3].sum(dim=1).double())
    ap = torch.cat(aps)
    hit = torch.cat(hits)
    valid = ~torch.isnan(ap)
    if not bool(valid.any()):
        raise ValueError("no image has another image of its class; each class needs at least 2 images")
    return Quality(mAP=float(ap[valid].mean()) * 100,
                   recall={k: float(hit[valid, i].mean()) * 100 for i, k in enumerate(recall_at)},
                   queries=int(valid.sum()), skipped=int((~valid).sum()),
                   options={"rerank": [r.describe() for r in rerankers], "dba": dba},
                   relevant_in_top3=float(torch.cat(top3)[valid].mean()))


def encode_folder(model: Any, folder: LabelledFolder, batch_size: int = 32, progress: bool = True,
                  cache: Optional[str | os.PathLike] = None) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(vectors, labels, failed) of a labelled folder's readable images; ``cache`` keeps the vectors in a
    file reused only for the same model provenance and unchanged files."""
    from .encode import encode_images
    from .files import files_fingerprint
    from .prototype_cache import read_prototype_cache, write_prototype_cache

    fingerprint = files_fingerprint(folder.paths)
    if cache is not None:
        cached, samples, _ = read_prototype_cache(cache, model.provenance, fingerprint)
        if cached is not None:
            return cached.numpy(), np.array([s["gt_label"] for s in samples]), {}
    result = encode_images(model, folder.paths, batch_size=batch_size, progress=progress, desc="evaluate")
    labels = folder.labels[result.ok]
    if cache is not None:
        samples = [{"img_path": folder.paths[i], "gt_label": int(folder.labels[i])} for i in result.ok]
        write_prototype_cache(cache, torch.from_numpy(result.vectors), samples, model.provenance, fingerprint)
    return result.vectors, labels, result.failed
