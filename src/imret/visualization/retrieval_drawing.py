"""A retrieval result (query image + DataSample with scores over a prototype dataset) as a match grid."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image

from imret.apis.match_grid import draw_match_grid
from imret.matching import order_by_score


def ranked_matches(data_sample: Any, topk: int) -> list[tuple[int, float]]:
    """``(prototype index, score)`` of the ``topk`` best matches of a predicted ``DataSample``.

    The order is the matching engine's: descending score, the lower prototype index first on ties.
    """
    scores = data_sample.get("pred_score") if hasattr(data_sample, "get") else None
    if scores is None:
        raise ValueError("the data sample has no pred_score; draw retrieval results of a retriever's predict")
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(1, -1)
    index = torch.arange(scores.shape[1]).reshape(1, -1)
    ordered_scores, ordered_index = order_by_score(scores, index)
    take = max(0, min(int(topk), scores.shape[1]))
    return list(zip(ordered_index[0, :take].tolist(), ordered_scores[0, :take].tolist()))


def _prototype_image(dataset: Any, index: int) -> tuple[str, str]:
    """``(image path, caption)`` of prototype ``index``; an empty path draws a grey tile."""
    info = dataset.get_data_info(index) if hasattr(dataset, "get_data_info") else {}
    path = str(info.get("img_path", "")) if isinstance(info, dict) else ""
    return path, (Path(path).name if path else f"#{index}")


def draw_retrieval(image: np.ndarray, data_sample: Any, prototype_dataset: Any, topk: int = 1,
                   tile: Optional[int] = None) -> np.ndarray:
    """The match grid (RGB array) of one query: ``image`` (RGB, HWC) then its ``topk`` best prototypes.

    ``prototype_dataset`` gives each prototype's picture by ``get_data_info(i)['img_path']``.
    """
    query = Image.fromarray(np.ascontiguousarray(np.asarray(image)).astype(np.uint8)).convert("RGB")
    cells = []
    for index, score in ranked_matches(data_sample, topk):
        path, caption = _prototype_image(prototype_dataset, index)
        cells.append((path, score, caption))
    query_path = data_sample.metainfo.get("img_path") if hasattr(data_sample, "metainfo") else None
    label = Path(os.fspath(query_path)).name if query_path else "query"
    grid = draw_match_grid(query, cells, query_label=label, tile=tile or 192)
    return np.asarray(grid)
