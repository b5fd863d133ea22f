"""``DataSample``: the per-image record that flows between datasets, models and metrics."""
from __future__ import annotations

from numbers import Number
from typing import Sequence, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

LabelLike = Union[torch.Tensor, np.ndarray, Sequence[Number], Number]


def format_label(value: LabelLike) -> torch.Tensor:
    """Turn an int, sequence, array or tensor of class indices into a 1-D ``LongTensor``."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = int(value)
    if isinstance(value, (torch.Tensor, np.ndarray)):
        tensor = torch.as_tensor(value)
        if tensor.ndim == 0:
            tensor = tensor.reshape(1)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        tensor = torch.tensor(list(value))
    elif isinstance(value, Number) and not isinstance(value, bool):
        tensor = torch.tensor([int(value)])
    else:
        raise TypeError(f"a label must be an int, a sequence, an ndarray or a Tensor, got {type(value).__name__}")
    if tensor.ndim != 1:
        raise ValueError(f"a label must be 1-D, got shape {tuple(tensor.shape)}")
    if tensor.numel() and tensor.is_floating_point():
        raise TypeError("a label holds class indices; got floating-point values (use set_gt_score for scores)")
    return tensor.long()


def format_score(value: Union[torch.Tensor, np.ndarray, Sequence[Number]]) -> torch.Tensor:
    """Turn a sequence, array or tensor of scores into a 1-D float tensor."""
    tensor = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    if tensor.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {tuple(tensor.shape)}")
    return tensor.float()


class DataSample(BaseDataElement):
    """Annotations and predictions of one sample (mmpretrain's ``DataSample`` fields).

    Data fields: ``gt_label``, ``gt_score``, ``pred_label``, ``pred_score``.
    Meta fields (``set_metainfo``): ``sample_idx``, ``img_path``, ``ori_shape``, ``img_shape``, ...
    """

    def set_gt_label(self, value: LabelLike) -> "DataSample":
        self.set_field(format_label(value), "gt_label", dtype=torch.Tensor)
        return self

    def set_gt_score(self, value: torch.Tensor) -> "DataSample":
        self.set_field(format_score(value), "gt_score", dtype=torch.Tensor)
        return self

    def set_pred_label(self, value: LabelLike) -> "DataSample":
        self.set_field(format_label(value), "pred_label", dtype=torch.Tensor)
        return self

    def set_pred_score(self, value: torch.Tensor) -> "DataSample":
        self.set_field(format_score(value), "pred_score", dtype=torch.Tensor)
        return self
