"""``CrossEntropyLoss``: softmax or sigmoid cross entropy for hard labels or soft targets, with label smoothing."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from imret.registry import MODELS

REDUCTIONS = ("none", "mean", "sum")


def to_soft_target(label: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N,) or (N, 1) class indices -> (N, C) one-hot floats; (N, C) scores (or multi-hot) -> floats."""
    if label.dim() == 2 and (label.is_floating_point() or label.size(1) != 1):
        if label.size(1) != num_classes:
            raise ValueError(f"soft targets have {label.size(1)} columns but there are {num_classes} classes")
        return label.float()
    if label.dim() == 2 and label.size(1) == 1:
        label = label[:, 0]
    if label.dim() != 1:
        raise ValueError(f"labels must be (N,) class indices or (N, {num_classes}) scores, got shape "
                         f"{tuple(label.shape)}")
    if label.is_floating_point():
        raise TypeError("hard labels must be integer class indices")
    if label.numel() and (int(label.min()) < 0 or int(label.max()) >= num_classes):
        raise ValueError(f"class index out of range 0..{num_classes - 1}: min {int(label.min())}, "
                         f"max {int(label.max())}")
    return F.one_hot(label.long(), num_classes).float()


def reduce_loss(loss: torch.Tensor, weight: Optional[torch.Tensor], reduction: str,
                avg_factor: Optional[float]) -> torch.Tensor:
    """Apply per-sample ``weight``, then reduce; ``avg_factor`` replaces N as the divisor of 'mean'."""
    if weight is not None:
        loss = loss * weight.float().reshape(loss.shape)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (avg_factor if avg_factor is not None else max(loss.numel(), 1))


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """Cross entropy between logits (N, C) and hard labels (N,) or soft targets (N, C).

    Args:
        use_sigmoid: per-class binary cross entropy instead of softmax.
        use_soft: accepted for mmpretrain configs; soft targets are recognised from their shape anyway.
        reduction: 'mean', 'sum' or 'none'.
        loss_weight: factor applied to the loss.
        class_weight: per-class weights (length C) multiplying each class's term.
        label_smooth_val: epsilon; targets become ``(1 - eps) * target + eps / C``.
    """

    def __init__(self, use_sigmoid: bool = False, use_soft: bool = False, reduction: str = "mean",
                 loss_weight: float = 1.0, class_weight: Optional[Sequence[float]] = None,
                 label_smooth_val: float = 0.0) -> None:
        super().__init__()
        if use_sigmoid and use_soft:
            raise ValueError("CrossEntropyLoss: use_sigmoid and use_soft cannot both be True")
        if reduction not in REDUCTIONS:
            raise ValueError(f"CrossEntropyLoss reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if not 0.0 <= label_smooth_val < 1.0:
            raise ValueError(f"CrossEntropyLoss label_smooth_val must be in [0, 1), got {label_smooth_val}")
        self.use_sigmoid = use_sigmoid
        self.use_soft = use_soft
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.label_smooth_val = label_smooth_val
        self.class_weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float)

    def forward(self, cls_score: torch.Tensor, label: torch.Tensor, weight: Optional[torch.Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                **kwargs) -> torch.Tensor:
        reduction = reduction_override or self.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if cls_score.dim() != 2:
            raise ValueError(f"cls_score must be (N, C), got shape {tuple(cls_score.shape)}")
        num_classes = cls_score.size(1)
        target = to_soft_target(label.to(cls_score.device), num_classes)
        if self.label_smooth_val:
            target = target * (1.0 - self.label_smooth_val) + self.label_smooth_val / num_classes
        if self.use_sigmoid:
            per_class = F.binary_cross_entropy_with_logits(cls_score.float(), target, reduction="none")
        else:
            per_class = -target * F.log_softmax(cls_score.float(), dim=1)
        if self.class_weight is not None:
            if self.class_weight.numel() != num_classes:
                raise ValueError(f"class_weight has {self.class_weight.numel()} entries for {num_classes} classes")
            per_class = per_class * self.class_weight.to(per_class.device)
        loss = per_class.mean(dim=1) if self.use_sigmoid else per_class.sum(dim=1)
        return self.loss_weight * reduce_loss(loss, weight, reduction, avg_factor)
