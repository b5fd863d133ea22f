"""The OpenVINO runtime: the exported graph compiled for the CPU plugin."""
from __future__ import annotations

import importlib.util
import threading

import numpy as np

from .base import EncoderRuntime, EncoderSource
from .devices import device_kind
from .registry import register_runtime


@register_runtime
class OpenVinoRuntime(EncoderRuntime):
    """``openvino.Core().compile_model(graph, 'CPU')``; one infer request, used under a lock."""

    name = "openvino"

    def __init__(self, compiled, device: str):
        super().__init__(device)
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()

    @classmethod
    def installed(cls) -> bool:
        return importlib.util.find_spec("openvino") is not None

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device_kind(device) == "cpu"

    @classmethod
    def build(cls, source: EncoderSource, device: str) -> "OpenVinoRuntime":
        import openvino

        from imret.utils.threads import openvino_config

        from .openvino_cache import compiled_cache_dir

        core = openvino.Core()
        onnx = source.onnx()
        config = {**openvino_config(), "INFERENCE_PRECISION_HINT": "f32"}
        cache = compiled_cache_dir(onnx, source.onnx_sha256)
        if cache is not None:
            # compiled once per graph content; given the path, a cached model is not even read
            config["CACHE_DIR"] = str(cache)
        compiled = core.compile_model(str(onnx), "CPU", config)
        return cls(compiled, device)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self.lock:
            self.request.infer({0: batch})
            return np.array(self.request.get_output_tensor(0).data, dtype=np.float32, copy=True)
