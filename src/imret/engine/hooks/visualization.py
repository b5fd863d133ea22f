"""``VisualizationHook`` (mmpretrain's name): match grids of validation/test queries."""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from imret.registry import HOOKS


@HOOKS.register_module()
class VisualizationHook(Hook):
    """Draw each selected query with its best prototype (gallery) matches during val/test.

    Args:
        enable: draw at all (mmpretrain's runtime base has it off).
        interval: draw every ``interval``-th query of a loop (0, interval, 2*interval, ...).
        show: also show each drawing in a window.
        out_dir: write the grids as ``<out_dir>/<query position>_<query file stem>_<step>.png``; by
            default they go through the visualizer's backends.
        max_queries: draw at most this many queries per loop (None: no limit).
        **kwargs: passed to ``visualize_image_retrieval`` (``topk``, ``resize``, ...); ``topk``
            defaults to 5.

    The gallery pictures come from the retriever's ``prototype`` (a dataloader or its config).
    """

    priority = "NORMAL"

    def __init__(self, enable: bool = False, interval: int = 5000, show: bool = False,
                 out_dir: Optional[str] = None, max_queries: Optional[int] = None, **kwargs: Any) -> None:
        if int(interval) < 1:
            raise ValueError(f"VisualizationHook: interval must be >= 1, got {interval}")
        self.enable = enable
        self.interval = int(interval)
        self.show = show
        self.out_dir = out_dir
        self.max_queries = max_queries
        self.draw_args = {"topk": 5, **kwargs, "show": show}
        self._seen = 0
        self._drawn = 0
        self._prototype_dataset: Any = None

    def before_val_epoch(self, runner) -> None:
        self._start_loop(runner)

    def before_test_epoch(self, runner) -> None:
        self._start_loop(runner)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict, outputs: Sequence) -> None:
        self._draw(runner, data_batch, outputs, step=_step(runner))

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict, outputs: Sequence) -> None:
        self._draw(runner, data_batch, outputs, step=0)

    def _start_loop(self, runner) -> None:
        self._seen = self._drawn = 0
        if self.enable and self._prototype_dataset is None:
            self._prototype_dataset = _prototype_dataset(runner)

    def _draw(self, runner, data_batch: dict, outputs: Sequence, step: int) -> None:
        if not self.enable:
            return
        inputs = data_batch.get("inputs") if isinstance(data_batch, dict) else None
        for offset, sample in enumerate(outputs):
            position = self._seen + offset
            if position % self.interval or (self.max_queries is not None and self._drawn >= self.max_queries):
                continue
            image = _rgb(inputs[offset]) if inputs is not None else np.full((64, 64, 3), 128, np.uint8)
            path = sample.metainfo.get("img_path")
            name = Path(os.fspath(path)).name if path else str(position)
            args = dict(self.draw_args)
            if self.out_dir is not None:  # the position keeps equal file names of different folders apart
                args["out_file"] = os.path.join(self.out_dir, f"{position:04d}_{Path(name).stem}_{step}.png")
            _visualize(runner.visualizer, image, sample, self._prototype_dataset, name=name, step=step, **args)
            self._drawn += 1
        self._seen += len(outputs)


def _step(runner) -> int:
    from mmengine.runner import EpochBasedTrainLoop

    train_loop = getattr(runner, "_train_loop", None)
    return runner.epoch if isinstance(train_loop, EpochBasedTrainLoop) else runner.iter


def _rgb(image: Any) -> np.ndarray:
    """A packed CHW (BGR, as loaded) image as an RGB HWC uint8 array."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    array = array.transpose(1, 2, 0) if array.ndim == 3 else array[..., None].repeat(3, axis=2)
    if array.shape[2] == 1:
        array = array.repeat(3, axis=2)
    return np.ascontiguousarray(np.clip(array, 0, 255).astype(np.uint8)[..., 2::-1])


def _prototype_dataset(runner) -> Any:
    """The dataset behind the retriever's prototype, or None (with a warning) when it has none."""
    from torch.utils.data import DataLoader

    from imret.registry import DATASETS

    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    prototype = getattr(model, "prototype", None)
    if isinstance(prototype, DataLoader):
        return prototype.dataset
    if isinstance(prototype, dict) and "dataset" in prototype:
        dataset = prototype["dataset"]
        return DATASETS.build(copy.deepcopy(dataset)) if isinstance(dataset, dict) else dataset
    warnings.warn("VisualizationHook: the model's prototype is not a dataloader, so the gallery pictures are "
                  "unknown; matches are drawn as grey tiles with their indices", stacklevel=2)
    return None


def _visualize(visualizer, image: np.ndarray, sample: Any, dataset: Any, **kwargs: Any) -> None:
    """Draw through ``visualize_image_retrieval`` when the visualizer has it, else through its backends."""
    if hasattr(visualizer, "visualize_image_retrieval"):
        visualizer.visualize_image_retrieval(image, sample, dataset, **kwargs)
        return
    from imret.visualization import UniversalVisualizer

    UniversalVisualizer.visualize_image_retrieval(visualizer, image, sample, dataset, **kwargs)
