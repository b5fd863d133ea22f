"""Encoder runtimes (torch, onnxruntime, openvino), ONNX export and export bundles."""
from . import onnxruntime_runtime, openvino_runtime, torch_runtime  # noqa: F401  (register the runtimes)
from .base import EncoderRuntime, EncoderSource
from .bundle import Bundle, is_bundle, read_bundle, write_bundle
from .devices import check_device
from .errors import BundleError, RuntimeSelectionError
from .registry import AUTO, RUNTIMES, create_runtime, list_runtimes, register_runtime, resolve_runtime

__all__ = [
    "AUTO", "Bundle", "BundleError", "EncoderRuntime", "EncoderSource", "RUNTIMES", "RuntimeSelectionError",
    "check_device", "create_runtime", "is_bundle", "list_runtimes", "read_bundle", "register_runtime",
    "resolve_runtime", "write_bundle",
]
