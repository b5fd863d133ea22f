"""``GeneralizedMeanPooling`` (GeM): (N, C, H, W) -> (N, C) as the p-power mean over space."""
from __future__ import annotations

from typing import Union

import torch
from mmengine.model import BaseModule
from torch import nn

from imret.registry import MODELS

Features = Union[torch.Tensor, tuple[torch.Tensor, ...]]


def generalized_mean(x: torch.Tensor, p: torch.Tensor, eps: float = 1e-6, clamp: bool = True) -> torch.Tensor:
    """``(mean over H, W of x ** p) ** (1 / p)`` per channel; with ``clamp``, values below ``eps`` become ``eps``."""
    if clamp:
        x = x.clamp(min=eps)
    return x.pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


@MODELS.register_module()
class GeneralizedMeanPooling(BaseModule):
    """GeM pooling: p=1 is average pooling, p -> inf approaches max pooling.

    Args:
        p: the power (> 0 when clamping, >= 1 recommended).
        eps: lower bound applied to the inputs when ``clamp``.
        clamp: clamp inputs at ``eps`` (keeps fractional powers defined).
        p_trainable: learn ``p`` as a parameter.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, clamp: bool = True, p_trainable: bool = False) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeneralizedMeanPooling p must be > 0, got {p}")
        self.p = nn.Parameter(torch.ones(1) * p, requires_grad=p_trainable)
        self.eps = eps
        self.clamp = clamp

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"GeneralizedMeanPooling expects (N, C, H, W) inputs, got shape {tuple(x.shape)}")
        return generalized_mean(x, self.p, self.eps, self.clamp)

    def forward(self, inputs: Features) -> Features:
        if isinstance(inputs, (tuple, list)):
            return tuple(self._pool(x) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self._pool(inputs)
        raise TypeError(f"GeneralizedMeanPooling expects a tensor or a tuple of tensors, got {type(inputs).__name__}")
