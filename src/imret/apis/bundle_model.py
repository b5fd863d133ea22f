"""Export bundles as models: ``export_bundle`` writes one from a model, ``bundle_model`` opens one.

Opening a bundle needs numpy, Pillow and onnxruntime or openvino -- not torch.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

from .preprocessing import Preprocessing
from .retrieval_model import RetrievalModel


def bundle_model(root: Union[str, os.PathLike], runtime: str = "auto", device: Optional[str] = None
                 ) -> RetrievalModel:
    """The model stored in an export bundle (files verified against the manifest first)."""
    from imret.runtimes import BundleError, EncoderSource, create_runtime, read_bundle

    bundle = read_bundle(root)
    try:
        preprocessing = Preprocessing.from_json(bundle.preprocessing)
    except ValueError as error:
        raise BundleError(f"bundle file {Path(root) / 'preprocessing.json'} is invalid ({error}); "
                          "re-export the bundle with imret export") from None
    source = EncoderSource(onnx_path=lambda: bundle.encoder_path, onnx_sha256=bundle.encoder_sha256)
    try:
        encoder = create_runtime(source, runtime=runtime, device=device)
    except (OSError, RuntimeError) as error:  # the runtimes' own errors for an unreadable graph
        raise BundleError(f"bundle file {bundle.encoder_path} could not be loaded "
                          f"({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__})"
                          "; re-export the bundle with imret export") from None
    return RetrievalModel(name=bundle.name, preprocessing=preprocessing, provenance=bundle.provenance,
                          runtime=encoder,
                          similarity=(bundle.provenance.get("encoder") or {}).get("similarity_fn", "cosine_similarity"),
                          source=source)


def export_bundle(model: RetrievalModel, out: Union[str, os.PathLike]) -> Path:
    """Write ``model`` (built with its torch module) as a bundle folder ``out``; returns ``out``."""
    from imret.runtimes import BundleError, write_bundle
    from imret.runtimes.onnx_export import cached_onnx

    if not model.has_module:
        raise BundleError(f"{model.name} is already an export bundle; copy its folder instead")
    similarity = model.similarity if isinstance(model.similarity, str) else None
    if similarity is None:
        raise BundleError("a model with a custom similarity function cannot be exported; use a named one")
    onnx = cached_onnx(None, model.provenance, model.preprocessing.input_size, load_module=lambda: model.source.module,
                       by_provenance=not model.source.module_handed_out)
    dim = int(model.runtime.encode(model.preprocessing.normalize([_probe(model)])).shape[1])
    return write_bundle(out, onnx, name=model.name, dim=dim, preprocessing=model.preprocessing.to_json(),
                        provenance=model.provenance)


def _probe(model: RetrievalModel):
    """A grey image of the encoder's input size, to read the vector length."""
    import numpy as np
    height, width = model.preprocessing.input_size or (224, 224)
    return np.full((height, width, 3), 128, np.uint8)
