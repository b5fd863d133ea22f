"""The OpenVINO runtime: the exported graph compiled for the CPU plugin."""
from __future__ import annotations

import importlib.util
import queue
import threading
from typing import Any, Callable, Optional

import numpy as np

from .base import EncoderRuntime, EncoderSource
from .devices import device_kind
from .registry import register_runtime


@register_runtime
class OpenVinoRuntime(EncoderRuntime):
    """``openvino.Core().compile_model(graph, 'CPU')``: one stream, every inference thread on one call.

    After :meth:`allow_parallel_calls` a second compilation with one stream per call serves calls that
    arrive while another is running (each on its share of the threads); a call made while nothing else
    runs still uses all the threads, so a lone request keeps the lowest latency.
    """

    name = "openvino"

    def __init__(self, compiled, device: str, recompile: Optional[Callable[[int], Any]] = None):
        super().__init__(device)
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.lock = threading.Lock()        # the one-stream request: one call at a time
        self._recompile = recompile
        self._state = threading.Lock()      # guards the counters below
        self._running = 0
        self.parallel_calls = 1
        self.parallel: Optional[Any] = None  # the compilation with one stream per call
        self._requests: Optional[queue.SimpleQueue] = None

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
        cache = compiled_cache_dir(onnx, source.onnx_sha256)

        def compile(streams: int):
            config = {**openvino_config(streams=streams), "INFERENCE_PRECISION_HINT": "f32"}
            if cache is not None:
                # compiled once per graph content and settings; given the path, a cached model is not even read
                config["CACHE_DIR"] = str(cache)
            return core.compile_model(str(onnx), "CPU", config)

        return cls(compile(1), device, compile)

    def allow_parallel_calls(self, calls: int) -> None:
        """Compile the graph again with ``calls`` streams (one infer request each) for overlapping calls."""
        calls = max(1, int(calls))
        if calls == self.parallel_calls or self._recompile is None:
            return
        with self.lock:
            if not self._warm_up(self.request):
                return  # calls stay one at a time
        parallel = self._recompile(calls) if calls > 1 else None
        requests: Optional[queue.SimpleQueue] = None
        if parallel is not None:
            requests = queue.SimpleQueue()
            for _ in range(calls):
                request = parallel.create_infer_request()
                self._warm_up(request)
                requests.put(request)
        with self._state:
            self.parallel, self._requests, self.parallel_calls = parallel, requests, calls

    def _warm_up(self, request: Any) -> bool:
        """One inference on zeros, read back, on this thread only; False when the input size is not fixed.

        OpenVINO's Python binding sets up its numpy bridge on the first read of a result; two threads
        doing that first read at once deadlock (each holds what the other waits for), so it is done
        here before any calls overlap.
        """
        shape = list(self.compiled.input(0).get_partial_shape())
        if not shape or any(not dimension.is_static for dimension in shape[1:]):
            return False
        sizes = [dimension.get_length() if dimension.is_static else 1 for dimension in shape]
        request.infer({0: np.zeros(sizes, dtype=np.float32)})
        np.array(request.get_output_tensor(0).data, copy=True)
        return True

    def _acquire(self) -> tuple[Any, Optional[queue.SimpleQueue]]:
        """The request for one call: the one-stream request when nothing else runs, else a per-stream one."""
        with self._state:
            requests = self._requests
            alone = requests is None or self._running == 0
            self._running += 1
        if alone:
            self.lock.acquire()
            return self.request, None
        return requests.get(), requests  # blocks while every stream is busy

    def _release(self, request: Any, requests: Optional[queue.SimpleQueue]) -> None:
        if requests is None:
            self.lock.release()
        else:
            requests.put(request)
        with self._state:
            self._running -= 1

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        request, requests = self._acquire()
        try:
            request.infer({0: batch})
            return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)
        finally:
            self._release(request, requests)
