"""The torch runtime: the model's own ``nn.Module`` (eager), on any torch device."""
from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from .base import EncoderRuntime, EncoderSource
from .devices import cuda_driver_present, device_kind
from .registry import register_runtime


def final_features(module: Any, images: Any) -> Any:
    """(N, C) features of a retriever for a normalized batch: the last encoder output, flattened."""
    feats = module.extract_feat(images)
    if isinstance(feats, (tuple, list)):
        feats = feats[-1]
    return feats.reshape(feats.shape[0], -1)


@register_runtime
class TorchRuntime(EncoderRuntime):
    """Eager torch on ``device``; the module stays usable for training (``RetrievalModel.module``)."""

    name = "torch"
    needs_module = True

    def __init__(self, module: Any, device: str):
        super().__init__(device)
        self.module = module

    @classmethod
    def installed(cls) -> bool:
        return importlib.util.find_spec("torch") is not None

    @classmethod
    def supports_device(cls, device: str) -> bool:
        kind = device_kind(device)
        if kind == "cpu":
            return True
        if kind == "cuda" and not cuda_driver_present():
            return False  # decided without importing torch (a cold search asks this)
        import torch
        if kind == "cuda":
            return torch.cuda.is_available()
        if kind == "mps":
            return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
        if kind == "xpu":
            return bool(getattr(torch, "xpu", None) and torch.xpu.is_available())
        return False

    @classmethod
    def build(cls, source: EncoderSource, device: str) -> "TorchRuntime":
        from imret.utils.threads import limit_threads

        limit_threads()  # passive OpenMP waiting, threads capped at the available cores
        module = source.module
        module.eval()
        module.to(device)
        return cls(module, device)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        import torch
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            feats = final_features(self.module, images)
            return feats.float().cpu().numpy()
