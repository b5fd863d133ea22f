"""``ClsDataPreprocessor``: collated images -> one normalized float batch (plus soft labels for batch augments)."""
from __future__ import annotations

import math
from numbers import Number
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from imret.registry import BATCH_AUGMENTS, MODELS

from .batch_augments import RandomBatchAugment

BatchAugmentCfg = Union[dict, Sequence[dict], Any]


def build_batch_augments(cfg: Optional[BatchAugmentCfg]) -> Optional[Any]:
    """A callable ``(inputs, scores) -> (inputs, scores)`` from any accepted batch augment config.

    Accepts ``dict(augments=[...], probs=...)`` (a retriever's ``train_cfg``; other keys are ignored),
    a single augment config ``dict(type='Mixup', alpha=0.8)``, a list of configs, or a callable.
    """
    if cfg is None:
        return None
    if isinstance(cfg, dict):
        if "augments" in cfg:
            if cfg["augments"] is None or len(cfg["augments"]) == 0:
                return None
            return RandomBatchAugment(cfg["augments"], cfg.get("probs"))
        if "type" in cfg:
            return BATCH_AUGMENTS.build(cfg)
        raise ValueError(f"batch_augments dict needs an 'augments' list or a 'type', got keys {sorted(cfg)}")
    if isinstance(cfg, (list, tuple)):
        return RandomBatchAugment(list(cfg)) if cfg else None
    if callable(cfg):
        return cfg
    raise TypeError(f"batch_augments must be a dict, a list of dicts or a callable, got {type(cfg).__name__}")


def _as_stats(values: Optional[Union[Number, Sequence[Number]]], name: str) -> Optional[torch.Tensor]:
    if values is None:
        return None
    tensor = torch.as_tensor(values, dtype=torch.float).reshape(-1)
    if tensor.numel() == 0:
        raise ValueError(f"ClsDataPreprocessor {name} must not be empty")
    return tensor.view(-1, 1, 1)


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Stack, pad, flip channels, normalize and (in training) batch-augment a collated batch.

    Args:
        mean, std: per-channel statistics on the input scale (0-255 for uint8 images); both or neither.
        pad_size_divisor: pad height and width up to a multiple of this (images are first padded to the
            batch's largest size).
        pad_value: value of padded pixels (after normalization).
        to_rgb: reverse the channel order of 3-channel inputs (images loaded as BGR).
        to_onehot: always turn ``gt_label`` into a one-hot ``gt_score``.
        num_classes: number of classes for one-hot scores; falls back to the samples' ``num_classes`` metainfo.
        batch_augments: see :func:`build_batch_augments`; applied only when ``training``.
    """

    def __init__(self, mean: Optional[Sequence[Number]] = None, std: Optional[Sequence[Number]] = None,
                 pad_size_divisor: int = 1, pad_value: Number = 0, to_rgb: bool = False,
                 to_onehot: bool = False, num_classes: Optional[int] = None,
                 batch_augments: Optional[BatchAugmentCfg] = None, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if (mean is None) != (std is None):
            raise ValueError("ClsDataPreprocessor: give both mean and std, or neither")
        if pad_size_divisor < 1:
            raise ValueError(f"ClsDataPreprocessor pad_size_divisor must be >= 1, got {pad_size_divisor}")
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = pad_value
        self.to_rgb = to_rgb
        self.to_onehot = to_onehot
        self.num_classes = num_classes
        self._enable_normalize = mean is not None
        if self._enable_normalize:
            std_t = _as_stats(std, "std")
            if bool((std_t == 0).any()):
                raise ValueError(f"ClsDataPreprocessor std must not contain zeros, got {list(std)}")
            self.register_buffer("mean", _as_stats(mean, "mean"), persistent=False)
            self.register_buffer("std", std_t, persistent=False)
        self.batch_augments = build_batch_augments(batch_augments)

    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        """An (N, C, ...) batch: flip 3 channels when ``to_rgb``, cast to float, normalize per channel."""
        channels = batch.size(1) if batch.dim() >= 2 else 1
        if self.to_rgb and channels == 3 and batch.dim() == 4:
            batch = batch.flip(1)
        batch = batch.float()
        if self._enable_normalize:
            if self.mean.size(0) not in (1, channels):
                raise ValueError(f"ClsDataPreprocessor has {self.mean.size(0)} mean/std values but the inputs have "
                                 f"{channels} channels; convert the images or change mean/std")
            shape = (1, -1) + (1,) * max(batch.dim() - 2, 0)
            batch = (batch - self.mean.view(shape)) / self.std.view(shape)
        return batch

    def _pad(self, batch: torch.Tensor, height: int, width: int) -> torch.Tensor:
        d = self.pad_size_divisor
        target_h, target_w = math.ceil(height / d) * d, math.ceil(width / d) * d
        pad_h, pad_w = target_h - batch.size(-2), target_w - batch.size(-1)
        if pad_h == 0 and pad_w == 0:
            return batch
        return F.pad(batch, (0, pad_w, 0, pad_h), value=float(self.pad_value))

    def stack_inputs(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """A float batch from a stacked tensor or a list of tensors.

        Images ((N, C, H, W) or a list of (C, H, W) of any sizes) are flipped, normalized and padded to
        the largest size (rounded up to ``pad_size_divisor``). Other inputs (e.g. (N, D) vectors) are
        only cast to float and normalized along dimension 1.
        """
        if isinstance(inputs, (list, tuple)):
            if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
                raise TypeError("ClsDataPreprocessor inputs must be a tensor or a non-empty list of tensors")
            if len({x.dim() for x in inputs}) != 1:
                raise ValueError(f"ClsDataPreprocessor inputs mix tensor ranks: {[tuple(x.shape) for x in inputs]}")
            if inputs[0].dim() != 3:
                if len({tuple(x.shape) for x in inputs}) != 1:
                    raise ValueError(f"ClsDataPreprocessor non-image inputs must share one shape, got "
                                     f"{sorted({tuple(x.shape) for x in inputs})}")
                return self._prepare(torch.stack(list(inputs)))
            if len({x.size(0) for x in inputs}) != 1:
                raise ValueError(f"ClsDataPreprocessor inputs have different channel counts: "
                                 f"{[x.size(0) for x in inputs]}")
            height = max(x.size(1) for x in inputs)
            width = max(x.size(2) for x in inputs)
            return torch.cat([self._pad(self._prepare(x[None]), height, width) for x in inputs])
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(f"ClsDataPreprocessor inputs must be a tensor or a list of tensors, "
                            f"got {type(inputs).__name__}")
        batch = self._prepare(inputs)
        return self._pad(batch, *inputs.shape[-2:]) if inputs.dim() == 4 else batch

    def _num_classes(self, data_samples: Sequence[Any]) -> int:
        num_classes = self.num_classes or data_samples[0].metainfo.get("num_classes")
        if not num_classes:
            raise ValueError("ClsDataPreprocessor needs num_classes to turn gt_label into one-hot gt_score "
                             "(required by to_onehot and by batch augments such as Mixup/CutMix); pass "
                             "data_preprocessor=dict(num_classes=...) or set 'num_classes' in the samples' metainfo")
        return int(num_classes)

    def _scores(self, data_samples: Sequence[Any], need: bool, device: torch.device) -> Optional[torch.Tensor]:
        if "gt_score" in data_samples[0]:
            return torch.stack([s.gt_score for s in data_samples]).float().to(device)
        if not need:
            return None
        if "gt_label" not in data_samples[0]:
            raise ValueError("ClsDataPreprocessor: batch augments / to_onehot need gt_label on every data sample")
        num_classes = self._num_classes(data_samples)
        scores = torch.zeros(len(data_samples), num_classes, device=device)
        for row, sample in enumerate(data_samples):
            label = sample.gt_label.reshape(-1).to(device)
            if label.numel() and (int(label.min()) < 0 or int(label.max()) >= num_classes):
                raise ValueError(f"gt_label {label.tolist()} out of range for num_classes={num_classes}")
            scores[row, label] = 1.0 / max(label.numel(), 1)
        return scores

    def forward(self, data: dict, training: bool = False) -> dict:
        """``dict(inputs=(N, C, H, W) float tensor, data_samples=list)`` from a collated batch."""
        if not isinstance(data, dict) or "inputs" not in data:
            raise TypeError("ClsDataPreprocessor expects dict(inputs=..., data_samples=...) from a collate function")
        data = self.cast_data(data)
        inputs = self.stack_inputs(data["inputs"])
        data_samples = data.get("data_samples")
        augment = training and self.batch_augments is not None
        if data_samples:
            scores = self._scores(data_samples, self.to_onehot or augment, inputs.device)
            if augment and scores is not None:
                inputs, scores = self.batch_augments(inputs, scores)
            if scores is not None:
                for sample, score in zip(data_samples, scores):
                    sample.set_gt_score(score)
        elif augment:
            raise ValueError("ClsDataPreprocessor: batch augments in training need data_samples with gt_label")
        return {"inputs": inputs, "data_samples": data_samples}
