"""Batch augments that blend images and their soft labels: ``Mixup``, ``CutMix``, ``RandomBatchAugment``."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch

from imret.registry import BATCH_AUGMENTS


def sample_beta(alpha: float) -> float:
    """One draw from Beta(alpha, alpha) using torch's global random state."""
    a = torch.tensor(float(alpha))
    return float(torch.distributions.Beta(a, a).sample())


def _check_batch(inputs: torch.Tensor, scores: torch.Tensor, images: bool = True) -> None:
    if images and inputs.dim() != 4:
        raise ValueError(f"this batch augment expects (N, C, H, W) inputs, got shape {tuple(inputs.shape)}")
    if scores.dim() != 2 or scores.size(0) != inputs.size(0):
        raise ValueError(f"batch augments expect (N, num_classes) scores for N={inputs.size(0)} images, got "
                         f"shape {tuple(scores.shape)}")


@BATCH_AUGMENTS.register_module()
class Mixup:
    """Blend each image with a random partner: ``lam * x + (1 - lam) * x[perm]``, lam ~ Beta(alpha, alpha)."""

    def __init__(self, alpha: float) -> None:
        if alpha <= 0:
            raise ValueError(f"Mixup alpha must be > 0, got {alpha}")
        self.alpha = float(alpha)

    @staticmethod
    def mix(inputs: torch.Tensor, scores: torch.Tensor, lam: float, index: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Blend with ``inputs[index]`` using weight ``lam`` for the original."""
        mixed = lam * inputs + (1.0 - lam) * inputs[index]
        return mixed, lam * scores + (1.0 - lam) * scores[index]

    def __call__(self, inputs: torch.Tensor, batch_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_batch(inputs, batch_scores, images=False)
        index = torch.randperm(inputs.size(0), device=inputs.device)
        return self.mix(inputs, batch_scores, sample_beta(self.alpha), index)

    def __repr__(self) -> str:
        return f"Mixup(alpha={self.alpha})"


@BATCH_AUGMENTS.register_module()
class CutMix:
    """Paste a random box from a partner image; labels mix by the pasted area.

    Args:
        alpha: Beta(alpha, alpha) parameter for the kept fraction ``lam``.
        cutmix_minmax: if given, box height/width are drawn uniformly in ``[min, max]`` times the image
            size (``alpha`` is then unused) and ``lam`` always follows the box area.
        correct_lam: set ``lam`` from the box area actually pasted after clipping at the borders.
    """

    def __init__(self, alpha: float, cutmix_minmax: Optional[Sequence[float]] = None,
                 correct_lam: bool = True) -> None:
        if alpha <= 0:
            raise ValueError(f"CutMix alpha must be > 0, got {alpha}")
        if cutmix_minmax is not None:
            if len(cutmix_minmax) != 2 or not 0 <= cutmix_minmax[0] <= cutmix_minmax[1] <= 1:
                raise ValueError(f"CutMix cutmix_minmax must be (min, max) with 0 <= min <= max <= 1, "
                                 f"got {cutmix_minmax}")
        self.alpha = float(alpha)
        self.cutmix_minmax = None if cutmix_minmax is None else tuple(float(v) for v in cutmix_minmax)
        self.correct_lam = correct_lam or cutmix_minmax is not None

    def box(self, lam: float, height: int, width: int) -> tuple[int, int, int, int]:
        """A random box ``(y1, y2, x1, x2)`` covering about ``1 - lam`` of the image."""
        if self.cutmix_minmax is not None:
            low, high = self.cutmix_minmax
            box_h = int(torch.randint(int(height * low), int(height * high) + 1, ()).item())
            box_w = int(torch.randint(int(width * low), int(width * high) + 1, ()).item())
            y1 = int(torch.randint(0, height - box_h + 1, ()).item())
            x1 = int(torch.randint(0, width - box_w + 1, ()).item())
            return y1, y1 + box_h, x1, x1 + box_w
        ratio = math.sqrt(1.0 - lam)
        box_h, box_w = int(height * ratio), int(width * ratio)
        cy = int(torch.randint(0, height, ()).item())
        cx = int(torch.randint(0, width, ()).item())
        y1, y2 = max(cy - box_h // 2, 0), min(cy + box_h - box_h // 2, height)
        x1, x2 = max(cx - box_w // 2, 0), min(cx + box_w - box_w // 2, width)
        return y1, y2, x1, x2

    @staticmethod
    def mix(inputs: torch.Tensor, scores: torch.Tensor, box: tuple[int, int, int, int], lam: float,
            index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy ``box`` from ``inputs[index]`` into each image; scores weighted ``lam`` / ``1 - lam``."""
        y1, y2, x1, x2 = box
        mixed = inputs.clone()
        mixed[:, :, y1:y2, x1:x2] = inputs[index, :, y1:y2, x1:x2]
        return mixed, lam * scores + (1.0 - lam) * scores[index]

    def __call__(self, inputs: torch.Tensor, batch_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_batch(inputs, batch_scores)
        height, width = inputs.shape[-2:]
        lam = sample_beta(self.alpha)
        box = self.box(lam, height, width)
        if self.correct_lam:
            lam = 1.0 - (box[1] - box[0]) * (box[3] - box[2]) / float(height * width)
        index = torch.randperm(inputs.size(0), device=inputs.device)
        return self.mix(inputs, batch_scores, box, lam, index)

    def __repr__(self) -> str:
        return f"CutMix(alpha={self.alpha}, cutmix_minmax={self.cutmix_minmax}, correct_lam={self.correct_lam})"


@BATCH_AUGMENTS.register_module()
class RandomBatchAugment:
    """Apply one of ``augments`` per batch, chosen with ``probs`` (uniform when None).

    When ``probs`` sums to less than 1, the rest is the probability of leaving the batch unchanged.
    """

    def __init__(self, augments: Union[dict, object, Sequence[Union[dict, object]]],
                 probs: Optional[Union[float, Sequence[float]]] = None) -> None:
        if isinstance(augments, dict) or callable(augments):
            augments = [augments]
        self.augments = [BATCH_AUGMENTS.build(a) if isinstance(a, dict) else a for a in augments]
        if not self.augments:
            raise ValueError("RandomBatchAugment needs at least one augment")
        if probs is None:
            probs = [1.0 / len(self.augments)] * len(self.augments)
        elif isinstance(probs, (int, float)):
            probs = [float(probs)]
        probs = [float(p) for p in probs]
        if len(probs) != len(self.augments):
            raise ValueError(f"RandomBatchAugment got {len(probs)} probs for {len(self.augments)} augments")
        if any(p < 0 for p in probs) or sum(probs) > 1 + 1e-6:
            raise ValueError(f"RandomBatchAugment probs must be >= 0 and sum to at most 1, got {probs}")
        rest = max(0.0, 1.0 - sum(probs))
        if rest > 1e-6:
            self.augments.append(None)
            probs.append(rest)
        self.probs = torch.tensor(probs)

    def __call__(self, inputs: torch.Tensor, batch_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        choice = self.augments[int(torch.multinomial(self.probs, 1).item())]
        if choice is None:
            return inputs, batch_scores
        return choice(inputs, batch_scores)

    def __repr__(self) -> str:
        return f"RandomBatchAugment(augments={self.augments}, probs={self.probs.tolist()})"
