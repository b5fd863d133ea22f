"""Runtimes by name, and ``auto``: the fastest installed runtime for a device.

Measured preference (benchmarks/bench_encoder.py, EfficientNet-Lite0, batch 16 at 224 px, 2-core CPU):
OpenVINO > ONNX Runtime > torch eager on CPU; on CUDA, torch (cuDNN) first, then ONNX Runtime's CUDA
provider.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np

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


class DeferredRuntime:
    """A chosen runtime that is built at its first ``encode``: a torch model's ONNX graph is exported
    (or read from the cache) only when something is encoded, not when a command merely checks a model."""

    def __init__(self, cls: type[EncoderRuntime], source: EncoderSource, device: str):
        self.name, self.device = cls.name, device
        self._cls, self._source = cls, source
        self._runtime: Optional[EncoderRuntime] = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> EncoderRuntime:
        """The built runtime (building it now if needed)."""
        with self._lock:
            if self._runtime is None:
                self._runtime = self._cls.build(self._source, self.device)
            return self._runtime

    def encode(self, batch: np.ndarray) -> np.ndarray:
        return self.runtime.encode(batch)

    def allow_parallel_calls(self, calls: int) -> None:
        self.runtime.allow_parallel_calls(calls)

    def __repr__(self) -> str:
        return f"DeferredRuntime({self.name!r}, device={self.device!r}, built={self._runtime is not None})"


def create_runtime(source: EncoderSource, runtime: str = AUTO, device: Optional[str] = None,
                   defer: bool = False) -> EncoderRuntime:
    """An encoder runtime for ``source``: ``runtime`` is a name from ``list_runtimes()``.

    The choice is checked now; with ``defer`` a runtime that needs the ONNX graph of a torch model is
    built at its first ``encode``.
    """
    cls, device = resolve_runtime(runtime, device, source)
    if defer and source.has_module and not cls.needs_module:
        return DeferredRuntime(cls, source, device)  # type: ignore[return-value]
    return cls.build(source, device)
