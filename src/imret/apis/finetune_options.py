"""Settings of ``imret finetune`` (kept import-light: the command line reads the defaults)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class FinetuneOptions:
    """Training settings; the defaults suit a 2-core CPU and a few hundred images."""

    epochs: int = 3
    batch_size: int = 16
    lr: float = 0.003
    head_lr_mult: float = 30.0
    weight_decay: float = 5e-4
    train_size: int = 160
    val_fraction: float = 0.2
    margin: float = 0.5
    scale: float = 32.0
    seed: int = 0
    max_images_per_class: Optional[int] = None

    def check(self) -> None:
        """``ValueError`` naming the first bad option."""
        for name in ("epochs", "batch_size", "train_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "head_lr_mult", "scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
