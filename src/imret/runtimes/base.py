"""The encoder runtime interface: a preprocessed float batch in, one feature vector per image out."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import numpy as np


class EncoderSource:
    """What a runtime can be built from: a torch module (or a loader building it), an ONNX file, or both.

    ``onnx_path`` is a callable so the ONNX graph is only exported (or read from the cache) when a
    runtime that needs it is chosen; ``load_module`` builds the module the first time ``module`` is read.
    """

    def __init__(self, module: Optional[Any] = None, onnx_path: Optional[Callable[[], Path]] = None,
                 load_module: Optional[Callable[[], Any]] = None, onnx_sha256: Optional[str] = None):
        self._module = module
        #: SHA-256 of the ONNX file when already verified (a bundle's manifest), so runtimes need not hash it.
        self.onnx_sha256 = onnx_sha256
        self._onnx_path = onnx_path
        self._load_module = load_module
        self._lock = threading.Lock()
        #: Whether a caller got the module (``handed_out_module``) and so may have changed its weights.
        self.module_handed_out = module is not None

    @property
    def has_module(self) -> bool:
        """Whether a torch module is there or can be built."""
        return self._module is not None or self._load_module is not None

    @property
    def module_loaded(self) -> bool:
        return self._module is not None

    @property
    def module(self) -> Optional[Any]:
        """The torch module (built now by ``load_module`` if not yet), or None."""
        if self._module is None and self._load_module is not None:
            with self._lock:
                if self._module is None:
                    self._module = self._load_module()
        return self._module

    def handed_out_module(self) -> Optional[Any]:
        """``module`` for a caller that may change its weights: from now on the ONNX graph is keyed by
        the module's tensors, not by the provenance."""
        module = self.module
        if module is not None:
            self.module_handed_out = True
        return module

    def onnx(self) -> Path:
        """Path of the ONNX encoder (exported on first use)."""
        if self._onnx_path is None:
            raise RuntimeError("this model has no ONNX graph and no torch module to export one from")
        return self._onnx_path()


class EncoderRuntime(ABC):
    """Runs an image encoder: ``encode((N, 3, H, W) float32) -> (N, C) float32``.

    Subclasses set ``name`` and implement ``installed``, ``supports_device``, ``build`` and ``encode``.
    Preprocessing (resize, crop, channel order, mean/std) happens before, identically for every runtime.
    """

    name: ClassVar[str]
    #: Whether ``build`` needs the torch module (True) or only the ONNX graph (False).
    needs_module: ClassVar[bool] = False

    def __init__(self, device: str):
        self.device = device

    @classmethod
    @abstractmethod
    def installed(cls) -> bool:
        """Whether the library this runtime needs can be imported."""

    @classmethod
    @abstractmethod
    def supports_device(cls, device: str) -> bool:
        """Whether this runtime can run on ``device`` ('cpu', 'cuda', 'cuda:1', ...) here."""

    @classmethod
    @abstractmethod
    def build(cls, source: EncoderSource, device: str) -> "EncoderRuntime":
        """A ready runtime for ``source`` on ``device``."""

    @abstractmethod
    def encode(self, batch: np.ndarray) -> np.ndarray:
        """Feature vectors (N, C) float32 of a preprocessed batch (N, 3, H, W) float32."""

    def allow_parallel_calls(self, calls: int) -> None:
        """Let up to ``calls`` threads run :meth:`encode` at the same time, each on its share of the cores.

        The default does nothing: the runtime's ``encode`` already runs concurrent calls in parallel.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"
