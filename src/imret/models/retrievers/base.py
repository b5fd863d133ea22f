"""``BaseRetriever``: the abstract retriever every imret retrieval model derives from."""
from __future__ import annotations

import os
from abc import ABCMeta, abstractmethod
from typing import Any, List, Optional, Union

import torch
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import DataLoader

from imret.structures import DataSample

PrototypeLike = Union[torch.Tensor, str, os.PathLike, DataLoader, dict]
PROTOTYPE_TYPES = "a torch.Tensor (M, C), a str path to saved vectors (.pth / .safetensors / .npy), " \
                  "a DataLoader, or a dict config of a DataLoader"


def check_prototype_type(prototype: Any, allow_none: bool = False) -> None:
    """Raise ``TypeError`` naming the accepted types when ``prototype`` is none of them."""
    if prototype is None and allow_none:
        return
    if not isinstance(prototype, (torch.Tensor, str, os.PathLike, DataLoader, dict)):
        raise TypeError(f"prototype must be {PROTOTYPE_TYPES}; got {type(prototype).__name__}")


class BaseRetriever(BaseModel, metaclass=ABCMeta):
    """Abstract retriever: ranks a prototype (gallery) for each input.

    Args:
        prototype: the gallery to retrieve from (see ``PROTOTYPE_TYPES``).
        data_preprocessor: a module, or a config dict (built by the subclass).
        init_cfg: mmengine initialization config.
    """

    def __init__(self, prototype: Optional[PrototypeLike] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None):
        check_prototype_type(prototype, allow_none=True)
        super().__init__(init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        self.prototype = prototype
        self.prototype_inited = False

    @abstractmethod
    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = "loss"):
        """Dispatch to ``extract_feat`` ('tensor'), ``loss`` ('loss') or ``predict`` ('predict')."""

    def extract_feat(self, inputs: torch.Tensor):
        """Features of a batch of images (N, C, H, W)."""
        raise NotImplementedError

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        """Training losses of a batch."""
        raise NotImplementedError

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None, **kwargs
                ) -> List[DataSample]:
        """Ranked prototype matches for each input."""
        raise NotImplementedError

    def matching(self, inputs: torch.Tensor) -> dict:
        """Similarity of features (N, C) to the prototype vectors."""
        raise NotImplementedError

    def prepare_prototype(self) -> None:
        """Compute or load the prototype vectors before prediction."""
        raise NotImplementedError

    def dump_prototype(self, path: Union[str, os.PathLike]) -> None:
        """Save the prototype vectors to ``path``."""
        raise NotImplementedError
