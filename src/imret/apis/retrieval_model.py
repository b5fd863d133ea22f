"""``RetrievalModel``: what ``get_model`` returns -- encoder runtime, preprocessing, provenance, name."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .encode import EncodeResult, encode_images, encode_queries
from .pipeline import ImageInput, ImageTransform
from .preprocessing import Preprocessing


@dataclass
class RetrievalModel:
    """A model ready to turn images into vectors.

    Attributes:
        name: zoo name, config file path or bundle folder it came from.
        preprocessing: the typed preprocessing (pipeline, channel order, mean/std).
        provenance: what decides the vectors (model, encoder config, weights hash, preprocessing); the
            runtime and the device are not part of it, so vectors from any runtime are comparable.
        runtime: the encoder runtime in use (``runtime.name``, ``runtime.device``).
        module: the underlying torch retriever (``nn.Module``) for training or fine-tuning, built on
            first read when the runtime did not need it; None for an export bundle.
        similarity: the retriever's similarity ('cosine_similarity', ...) or callable.
    """

    name: str
    preprocessing: Preprocessing
    provenance: dict
    runtime: Any
    similarity: Any = "cosine_similarity"
    #: What runtimes are built from (``imret.runtimes.EncoderSource``); used by ``with_runtime`` and ``module``.
    source: Optional[Any] = field(default=None, repr=False, compare=False)
    _transform: Optional[ImageTransform] = field(default=None, init=False, repr=False, compare=False)

    @property
    def module(self) -> Optional[Any]:
        return None if self.source is None else self.source.handed_out_module()

    @property
    def has_module(self) -> bool:
        """Whether a torch module is there or can be built (False for an export bundle)."""
        return self.source is not None and self.source.has_module

    @property
    def runtime_name(self) -> str:
        return self.runtime.name

    @property
    def device(self) -> str:
        return self.runtime.device

    @property
    def transform(self) -> ImageTransform:
        """The pipeline's transforms (built once)."""
        if self._transform is None:
            self._transform = ImageTransform(self.preprocessing.pipeline)
        return self._transform

    @property
    def similarity_fn(self) -> Callable:
        """``(queries, prototypes) -> scores`` of this model (torch tensors)."""
        from imret.matching.similarity import resolve_similarity
        return resolve_similarity(self.similarity)

    def with_runtime(self, runtime: str = "auto", device: Optional[str] = None) -> "RetrievalModel":
        """The same model (same provenance) on another runtime or device, without reloading weights."""
        from imret.runtimes import create_runtime
        if self.source is None:
            raise ValueError(f"model {self.name} was built without a runtime source; use get_model(..., runtime=)")
        return dataclasses.replace(self, runtime=create_runtime(self.source, runtime=runtime, device=device,
                                                                 defer=True))

    def encode_arrays(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors (N, C) float32 of pipeline outputs (HWC uint8, BGR as loaded)."""
        return self.runtime.encode(self.preprocessing.normalize(images))

    def allow_parallel_calls(self, calls: int) -> None:
        """Let up to ``calls`` threads run :meth:`encode_arrays` at once (see ``EncoderRuntime``)."""
        self.runtime.allow_parallel_calls(calls)

    def encode_images(self, images: Sequence[ImageInput], batch_size: int = 32, progress: bool = False,
                      desc: str = "encoding", workers: Optional[int] = None) -> EncodeResult:
        """Vectors of image paths or BGR arrays; unreadable images are skipped and listed (see ``encode_images``)."""
        return encode_images(self, images, batch_size=batch_size, progress=progress, desc=desc, workers=workers)

    def encode_queries(self, queries: Sequence[ImageInput], batch_size: int = 16,
                       error: type[Exception] = ValueError) -> np.ndarray:
        """Vectors of query images in order; the first unreadable one raises ``error``."""
        return encode_queries(self, queries, batch_size, error)
