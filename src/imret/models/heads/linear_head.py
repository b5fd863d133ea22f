"""``LinearClsHead``: one fully connected layer from features to class scores."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from imret.registry import MODELS

from .cls_head import ClsHead, Features


@MODELS.register_module()
class LinearClsHead(ClsHead):
    """Class scores ``fc(last feature)``; loss and predict as in :class:`ClsHead`."""

    def __init__(self, num_classes: int, in_channels: int,
                 loss: Union[dict, nn.Module] = dict(type="CrossEntropyLoss", loss_weight=1.0),
                 topk: Union[int, Sequence[int]] = (1,), cal_acc: bool = False,
                 init_cfg: Optional[Union[dict, list]] = dict(type="Normal", layer="Linear", std=0.01)) -> None:
        super().__init__(loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if num_classes <= 0:
            raise ValueError(f"LinearClsHead num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, feats: Features) -> torch.Tensor:
        return self.fc(self.pre_logits(feats))
