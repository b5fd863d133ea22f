"""``GlobalAveragePooling``: (N, C, *spatial) -> (N, C) by averaging."""
from __future__ import annotations

from typing import Union

import torch
from mmengine.model import BaseModule
from torch import nn

from imret.registry import MODELS

Features = Union[torch.Tensor, tuple[torch.Tensor, ...]]


@MODELS.register_module()
class GlobalAveragePooling(BaseModule):
    """Average each channel over its 1, 2 or 3 spatial dimensions (``dim``); maps tensors or tuples of tensors."""

    def __init__(self, dim: int = 2) -> None:
        super().__init__()
        if dim not in (1, 2, 3):
            raise ValueError(f"GlobalAveragePooling dim must be 1, 2 or 3, got {dim!r}")
        self.dim = dim
        self.gap = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)[dim - 1](1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dim + 2:
            raise ValueError(f"GlobalAveragePooling(dim={self.dim}) expects {self.dim + 2}-D inputs "
                             f"(N, C, spatial...), got shape {tuple(x.shape)}")
        return self.gap(x).flatten(1)

    def forward(self, inputs: Features) -> Features:
        if isinstance(inputs, (tuple, list)):
            return tuple(self._pool(x) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self._pool(inputs)
        raise TypeError(f"GlobalAveragePooling expects a tensor or a tuple of tensors, got {type(inputs).__name__}")
