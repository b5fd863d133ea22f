"""``BaseDataset``: mmengine's dataset with the pipeline built from imret's ``TRANSFORMS``."""
from __future__ import annotations

from typing import Any, Sequence

from mmengine.dataset import BaseDataset as MMEngineBaseDataset

from .transforms import Compose


class BaseDataset(MMEngineBaseDataset):
    """mmengine ``BaseDataset`` whose ``pipeline`` config dicts resolve in imret's registry, so that
    imret datasets build outside a Runner (no default scope needed)."""

    def __init__(self, *args: Any, pipeline: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, pipeline=[], **kwargs)
        self.pipeline = Compose(list(pipeline))
