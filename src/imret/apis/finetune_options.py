"""Settings of ``imret finetune`` (kept import-light: the command line reads the defaults)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

#: encoder modules trained at the head's rate by default: timm's final 1x1 projection (320 -> 1280
#: channels in EfficientNet-Lite0). Measured on flowers12: mAP 92.5 with it at the head's rate vs 82.6 at
#: the encoder's (benchmarks/README.md, "Fine-tuning on flowers12").
DEFAULT_HEAD_RATE_LAYERS = ("conv_head",)


@dataclass
class FinetuneOptions:
    """Training settings; the defaults suit a 2-core CPU and a few hundred images."""

    epochs: int = 3
    batch_size: int = 16
    lr: float = 0.003
    head_lr_mult: float = 30.0
    #: encoder modules (last part of the module name) also trained at the head's rate; None = the
    #: default (DEFAULT_HEAD_RATE_LAYERS where the encoder has them), () = the new head only
    head_lr_layers: Optional[tuple[str, ...]] = None
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
        layers = self.head_lr_layers
        if layers is not None and (isinstance(layers, str) or not all(isinstance(n, str) and n for n in layers)):
            raise ValueError(f"head_lr_layers must be a sequence of module names (or None), got {layers!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
