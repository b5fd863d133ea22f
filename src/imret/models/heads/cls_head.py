"""``ClsHead``: the loss / predict plumbing shared by classification heads."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from imret.registry import MODELS
from imret.structures import DataSample

Features = Union[torch.Tensor, Sequence[torch.Tensor]]


def last_feature(feats: Features) -> torch.Tensor:
    """The last element of a tuple/list of features, or the tensor itself."""
    if isinstance(feats, torch.Tensor):
        return feats
    if isinstance(feats, (tuple, list)) and feats:
        return feats[-1]
    raise TypeError(f"expected a tensor or a non-empty tuple of tensors, got {type(feats).__name__}")


def gather_labels(data_samples: Sequence[DataSample], device: torch.device) -> torch.Tensor:
    """Concatenate the ``gt_label`` (one class index each) of ``data_samples``."""
    if not data_samples:
        raise ValueError("loss needs data_samples with gt_label, got none")
    missing = [i for i, sample in enumerate(data_samples) if "gt_label" not in sample]
    if missing:
        raise ValueError(f"data_samples {missing[:5]} have no gt_label; the head's loss needs one label per image")
    labels = torch.cat([sample.gt_label.reshape(-1) for sample in data_samples])
    if labels.numel() != len(data_samples):
        raise ValueError("each data sample must hold exactly one gt_label for a single-label head")
    return labels.to(device)


def gather_targets(data_samples: Sequence[DataSample], labels: torch.Tensor) -> torch.Tensor:
    """Soft ``gt_score`` targets (set by batch augments) when present, else the hard ``labels``."""
    if "gt_score" in data_samples[0]:
        return torch.stack([sample.gt_score for sample in data_samples]).to(labels.device)
    return labels


@MODELS.register_module()
class ClsHead(BaseModule):
    """A head without parameters: features are the class scores. Subclasses override ``forward``."""

    def __init__(self, loss: Union[dict, nn.Module] = dict(type="CrossEntropyLoss", loss_weight=1.0),
                 topk: Union[int, Sequence[int]] = (1,), cal_acc: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_module = loss if isinstance(loss, nn.Module) else MODELS.build(loss)
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        self.cal_acc = cal_acc

    def pre_logits(self, feats: Features) -> torch.Tensor:
        """The feature vector the classifier sees: the last element of ``feats``."""
        return last_feature(feats)

    def forward(self, feats: Features) -> torch.Tensor:
        return self.pre_logits(feats)

    def _scores_for_loss(self, feats: Features, labels: torch.Tensor) -> torch.Tensor:
        return self(feats)

    def loss(self, feats: Features, data_samples: Sequence[DataSample], **kwargs) -> dict[str, torch.Tensor]:
        """``dict(loss=scalar)`` (plus ``accuracy_top-k`` when ``cal_acc``) against the samples' labels."""
        labels = gather_labels(data_samples, last_feature(feats).device)
        target = gather_targets(data_samples, labels)
        cls_score = self._scores_for_loss(feats, labels)
        losses = {"loss": self.loss_module(cls_score, target, avg_factor=cls_score.size(0), **kwargs)}
        if self.cal_acc:
            with torch.no_grad():
                ranked = cls_score.topk(max(self.topk), dim=1).indices
                for k in self.topk:
                    hit = (ranked[:, :k] == labels[:, None]).any(dim=1).float().mean() * 100
                    losses[f"accuracy_top-{k}"] = hit
        return losses

    def predict(self, feats: Features, data_samples: Optional[Sequence[Optional[DataSample]]] = None
                ) -> list[DataSample]:
        """Softmax class scores and the arg-max label per image, set on (copies of new) DataSamples."""
        cls_score = self(feats)
        scores = F.softmax(cls_score, dim=1).detach()
        labels = scores.argmax(dim=1, keepdim=True)
        if data_samples is None:
            data_samples = [None] * scores.size(0)
        results = []
        for sample, score, label in zip(data_samples, scores, labels):
            sample = DataSample() if sample is None else sample
            sample.set_pred_score(score).set_pred_label(label)
            results.append(sample)
        return results
