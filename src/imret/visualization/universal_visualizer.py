"""``UniversalVisualizer`` (mmpretrain's visualizer name) with retrieval match grids."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer
from PIL import Image

from imret.registry import VISUALIZERS
from imret.utils.atomic import atomic_output

from .retrieval_drawing import draw_retrieval


@VISUALIZERS.register_module(name=["UniversalVisualizer", "ClsVisualizer"])
class UniversalVisualizer(Visualizer):
    """An mmengine ``Visualizer`` (same arguments) that can draw retrieval results.

    The drawings go through the visualizer's backends (``vis_backends``, e.g. ``LocalVisBackend``
    writing ``<save_dir>/vis_image/<name>_<step>.png``) or, with ``out_file``, to that PNG file.
    """

    @master_only
    def visualize_image_retrieval(self, image: np.ndarray, data_sample: Any, prototype_dataset: Any,
                                  topk: int = 1, draw_score: bool = True, resize: Optional[int] = None,
                                  show: bool = False, wait_time: float = 0, out_file: Optional[str] = None,
                                  name: str = "", step: int = 0) -> np.ndarray:
        """Draw the query ``image`` (RGB) and its ``topk`` best prototypes with their scores.

        ``data_sample`` holds ``pred_score`` over ``prototype_dataset`` (a retriever's prediction).
        ``resize``: the side in pixels of each picture's tile (default 192). Returns the RGB drawing.
        """
        if not draw_score:
            raise ValueError("draw_score=False is not supported: imret's match grids always show the scores")
        drawn = draw_retrieval(image, data_sample, prototype_dataset, topk=topk, tile=resize)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            with atomic_output(Path(out_file)) as temp:
                Image.fromarray(drawn).save(temp, format="PNG")
        else:
            self.add_image(name, drawn, step=step)
        return drawn
