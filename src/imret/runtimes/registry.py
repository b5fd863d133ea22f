"""Runtimes by name, and ``auto``: the fastest installed runtime for a device.

Measured preference (benchmarks/bench_encoder.py, EfficientNet-Lite0, batch 16 at 224 px, 2-core CPU):
OpenVINO > ONNX Runtime > torch eager on CPU; on CUDA, torch (cuDNN) first, then ONNX Runtime's CUDA
provider.
"""
from __future__ import annotations

from typing import Optional

from .base import EncoderRuntime, EncoderSource
from .devices import check_device, device_kind
from .errors import RuntimeSelectionError

RUNTIMES: dict[str, type[EncoderRuntime]] = {}
AUTO = "auto"
PREFERENCE = {"cpu": ("openvino", "onnxruntime", "torch"), "cuda": ("torch", "onnxruntime")}
INSTALL_HINT = {"onnxruntime": "pip install onnxruntime", "openvino": "pip install openvino",
                "torch": "pip install torch"}


def register_runtime(cls: type[EncoderRuntime]) -> type[EncoderRuntime]:
    """Class decorator adding a runtime under ``cls.name``."""
    RUNTIMES[cls.name] = cls
    return cls


def list_runtimes() -> list[str]:
    """Names accepted by ``runtime=`` / ``--runtime`` (``auto`` first)."""
    return [AUTO, *RUNTIMES]


def _candidates(device: str) -> tuple[str, ...]:
    return PREFERENCE.get(device_kind(device), ("torch",))


def default_device(source: EncoderSource) -> str:
    """CUDA when torch sees one (for models with a torch module) or ONNX Runtime has a CUDA provider
    (bundles); else CPU."""
    for name in ("torch", "onnxruntime"):
        cls = RUNTIMES[name]
        if (source.has_module or not cls.needs_module) and cls.installed() and cls.supports_device("cuda"):
            return "cuda"
    return "cpu"


def resolve_runtime(name: str, device: Optional[str], source: EncoderSource) -> tuple[type[EncoderRuntime], str]:
    """The runtime class and device to use; raises ``RuntimeSelectionError`` with what to do instead."""
    name = str(name or AUTO).strip().lower()
    device = check_device(device)
    if name != AUTO and name not in RUNTIMES:
        raise RuntimeSelectionError(f"unknown runtime {name!r}; use one of {', '.join(list_runtimes())}")
    if device is None:
        device = "cpu" if name != AUTO and name != "torch" and not RUNTIMES[name].supports_device("cuda") \
            else default_device(source)
    if name == AUTO:
        for candidate in _candidates(device):
            cls = RUNTIMES[candidate]
            if cls.needs_module and not source.has_module:
                continue
            if cls.installed() and cls.supports_device(device):
                return cls, device
        raise RuntimeSelectionError(f"no installed runtime can run this model on {device}; "
                                    f"install onnxruntime or openvino, or choose another --device")
    cls = RUNTIMES[name]
    if cls.needs_module and not source.has_module:
        raise RuntimeSelectionError(f"runtime {name!r} needs the model's torch weights, which an export bundle "
                                    "does not hold; use --runtime onnxruntime, openvino or auto")
    if not cls.installed():
        raise RuntimeSelectionError(f"runtime {name!r} is not installed; install it ({INSTALL_HINT[name]}) "
                                    "or use --runtime auto")
    if not cls.supports_device(device):
        raise RuntimeSelectionError(f"runtime {name!r} cannot run on device {device!r} here; "
                                    "use --device cpu or another --runtime")
    return cls, device


def create_runtime(source: EncoderSource, runtime: str = AUTO, device: Optional[str] = None) -> EncoderRuntime:
    """A ready encoder runtime for ``source``: ``runtime`` is a name from ``list_runtimes()``."""
    cls, device = resolve_runtime(runtime, device, source)
    return cls.build(source, device)
