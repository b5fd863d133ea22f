"""The ONNX Runtime runtime: the exported graph on the CPU (or CUDA) execution provider."""
from __future__ import annotations

import importlib.util

import numpy as np

from .base import EncoderRuntime, EncoderSource
from .devices import cuda_driver_present, device_index, device_kind
from .registry import register_runtime


def _providers() -> list[str]:
    import onnxruntime
    return list(onnxruntime.get_available_providers())


@register_runtime
class OnnxRuntime(EncoderRuntime):
    """``onnxruntime.InferenceSession`` with the CPU provider, or CUDA's when the device is cuda."""

    name = "onnxruntime"

    def __init__(self, session, device: str):
        super().__init__(device)
        self.session = session
        self.input_name = session.get_inputs()[0].name

    @classmethod
    def installed(cls) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    @classmethod
    def supports_device(cls, device: str) -> bool:
        kind = device_kind(device)
        if kind == "cpu":
            return True
        return kind == "cuda" and cuda_driver_present() and cls.installed() and "CUDAExecutionProvider" in _providers()

    @classmethod
    def build(cls, source: EncoderSource, device: str) -> "OnnxRuntime":
        import onnxruntime

        from imret.utils.threads import ort_session_options

        options = ort_session_options()  # threads capped at the available cores, no spin-waiting
        options.log_severity_level = 3
        providers: list = ["CPUExecutionProvider"]
        if device_kind(device) == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_index(device)}))
        session = onnxruntime.InferenceSession(str(source.onnx()), sess_options=options, providers=providers)
        return cls(session, device)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.session.run(None, {self.input_name: batch})[0], dtype=np.float32)
