"""``ArcFaceClsHead``: additive angular margin classifier (ArcFace, with optional sub-centers)."""
from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from imret.registry import MODELS

from .cls_head import ClsHead, Features

Margins = Union[float, Sequence[float], str]


class NormProduct(nn.Linear):
    """Cosine between the normalized input and ``k`` normalized weight vectors per output; max over the ``k``."""

    def __init__(self, in_features: int, out_features: int, k: int = 1) -> None:
        super().__init__(in_features, out_features * k, bias=False)
        self.out_features = out_features
        self.k = k

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        cosine = F.linear(F.normalize(input, dim=1), F.normalize(self.weight, dim=1))
        if self.k == 1:
            return cosine
        return cosine.view(cosine.size(0), self.out_features, self.k).amax(dim=2)


def read_margins(margins: Margins, num_classes: int) -> torch.Tensor:
    """Per-class margins from a number, a sequence, or a ``.txt`` file holding one number per line."""
    if isinstance(margins, (int, float)) and not isinstance(margins, bool):
        values = [float(margins)] * num_classes
    elif isinstance(margins, (str, os.PathLike)):
        path = os.fspath(margins)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ArcFaceClsHead margins file not found: {path!r}")
        with open(path, encoding="utf-8") as handle:
            values = [float(line) for line in handle if line.strip()]
    elif isinstance(margins, (Sequence, torch.Tensor)):
        values = [float(v) for v in margins]
    else:
        raise TypeError(f"ArcFaceClsHead margins must be a float, a sequence of floats or a .txt path, "
                        f"got {type(margins).__name__}")
    if len(values) != num_classes:
        raise ValueError(f"ArcFaceClsHead got {len(values)} margins for num_classes={num_classes}")
    return torch.tensor(values, dtype=torch.float)


@MODELS.register_module()
class ArcFaceClsHead(ClsHead):
    """Class logits ``scale * cos(theta)``; in training the target class gets ``scale * cos(theta + m)``.

    Args:
        num_classes: number of classes.
        in_channels: feature dimension.
        num_subcenters: weight vectors per class; a class's cosine is the max over them (sub-center ArcFace).
        scale: logit scale ``s``.
        margins: angular margin ``m`` in radians: one float, one per class, or a ``.txt`` file.
        easy_margin: apply the margin only where ``cos(theta) > 0``; otherwise (default) where
            ``theta + m < pi``, using ``cos(theta) - m * sin(m)`` beyond that so the logit keeps decreasing.
        loss: loss config or module.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, num_classes: int, in_channels: int, num_subcenters: int = 1, scale: float = 64.0,
                 margins: Margins = 0.5, easy_margin: bool = False,
                 loss: Union[dict, nn.Module] = dict(type="CrossEntropyLoss", loss_weight=1.0),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(loss=loss, init_cfg=init_cfg)
        if num_classes <= 0 or num_subcenters < 1:
            raise ValueError(f"ArcFaceClsHead needs num_classes > 0 and num_subcenters >= 1, got "
                             f"{num_classes} and {num_subcenters}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.num_subcenters = num_subcenters
        self.scale = scale
        self.easy_margin = easy_margin
        self.norm_product = NormProduct(in_channels, num_classes, num_subcenters)
        self.register_buffer("margins", torch.zeros(num_classes), persistent=False)
        self.set_margins(margins)

    def set_margins(self, margins: Margins) -> None:
        """Replace the per-class margins (e.g. adaptive margins computed from class counts)."""
        self.margins = read_margins(margins, self.num_classes).to(self.margins.device)

    def cosine(self, feats: Features) -> torch.Tensor:
        """(N, num_classes) cosine similarity between features and class centers (max over sub-centers)."""
        return self.norm_product(self.pre_logits(feats).float())

    def add_margin(self, cosine: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``cosine`` with each row's target entry replaced by its margin-penalised value."""
        if target.dim() == 2 and target.size(1) == 1:
            target = target[:, 0]
        if target.dim() != 1 or target.is_floating_point():
            raise ValueError("ArcFaceClsHead needs targets as (N,) class indices for the margin")
        m = self.margins[target].unsqueeze(1)
        cos_t = cosine.gather(1, target.unsqueeze(1))
        sin_t = (1.0 - cos_t.pow(2)).clamp(min=1e-12).sqrt()
        phi = cos_t * torch.cos(m) - sin_t * torch.sin(m)
        if self.easy_margin:
            phi = torch.where(cos_t > 0, phi, cos_t)
        else:
            # beyond theta = pi - m, cos(theta + m) would increase again: continue linearly instead.
            phi = torch.where(cos_t > torch.cos(math.pi - m), phi, cos_t - torch.sin(math.pi - m) * m)
        return cosine.scatter(1, target.unsqueeze(1), phi)

    def forward(self, feats: Features, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits ``scale * cosine``; with ``target`` (N,) class indices, the margin is applied first."""
        cosine = self.cosine(feats)
        if target is not None:
            cosine = self.add_margin(cosine, target.to(cosine.device))
        return self.scale * cosine

    def _scores_for_loss(self, feats: Features, labels: torch.Tensor) -> torch.Tensor:
        return self(feats, labels)
