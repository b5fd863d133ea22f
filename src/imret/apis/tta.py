"""Test-time augmentation: encode each image also mirrored and/or at several crop sizes, and average.

``with_tta(model, flip=True, scales=[224, 320])`` wraps a model from ``get_model``. Each view's vector
is L2-normalised before averaging (for cosine models), so no view dominates. The result records
``{'tta': {'flip': ..., 'scales': [...]}}`` in its provenance, so an index never mixes vectors made
with and without it. Flip works with every runtime and with export bundles; other scales re-run the
test pipeline with the resize and crop scaled alike, through a runtime of the same kind built for that
size (this needs the model's torch module, so not an export bundle).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

from .pipeline import ImageTransform
from .preprocessing import Preprocessing
from .retrieval_model import RetrievalModel

TTA_KEY = "tta"
_RESIZE_STEPS = ("ResizeEdge", "Resize")


def scaled_pipeline(pipeline: Sequence[dict], crop: int) -> list[dict]:
    """The pipeline with its CenterCrop set to ``crop`` and its resize scaled by the same ratio."""
    steps = [copy.deepcopy(dict(step)) for step in pipeline]
    crops = [step for step in steps if step.get("type") == "CenterCrop"]
    if not crops:
        raise ValueError("multi-scale TTA needs a test pipeline with a CenterCrop")
    old = crops[-1]["crop_size"]
    old = old[0] if isinstance(old, (list, tuple)) else old
    ratio = crop / float(old)
    for step in steps:
        if step.get("type") in _RESIZE_STEPS and "scale" in step:
            scale = step["scale"]
            step["scale"] = [int(round(s * ratio)) for s in scale] if isinstance(scale, (list, tuple)) \
                else int(round(scale * ratio))
    crops[-1]["crop_size"] = crop
    return steps


class _Views:
    """Transform of one image into one array per scale."""

    def __init__(self, transforms: Sequence[ImageTransform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Any) -> tuple:
        return tuple(transform(image) for transform in self.transforms)

    def with_load_options(self, **options: Any) -> "_Views":
        """The same views with ``options`` given to each loading step (see ``ImageTransform``)."""
        return _Views([transform.with_load_options(**options) for transform in self.transforms])


@dataclass
class TTAModel(RetrievalModel):
    """A :class:`RetrievalModel` whose vectors average flipped and/or multi-scale views."""

    flip: bool = False
    scales: Optional[list] = None
    views: list = field(default_factory=list)  # [(Preprocessing, runtime)] per scale

    def with_runtime(self, runtime: str = "auto", device: Optional[str] = None) -> "RetrievalModel":
        raise ValueError("choose the runtime before applying test-time augmentation (with_runtime, then with_tta)")

    @property
    def transform(self) -> _Views:
        if self._transform is None:
            self._transform = _Views([ImageTransform(p.pipeline) for p, _ in self.views])
        return self._transform

    def allow_parallel_calls(self, calls: int) -> None:
        runtimes = {id(runtime): runtime for runtime in [self.runtime, *(runtime for _, runtime in self.views)]}
        for runtime in runtimes.values():
            runtime.allow_parallel_calls(calls)

    def encode_arrays(self, images: Sequence[tuple]) -> np.ndarray:
        total = None
        count = 0
        for position, (preprocessing, runtime) in enumerate(self.views):
            batch = preprocessing.normalize([image[position] for image in images])
            variants = [batch, np.ascontiguousarray(batch[..., ::-1])] if self.flip else [batch]
            for variant in variants:
                vectors = runtime.encode(variant).astype(np.float32)
                if self.similarity == "cosine_similarity":
                    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
                total = vectors if total is None else total + vectors
                count += 1
        return total / count


def _runtime_for(model: RetrievalModel, crop: int) -> Any:
    if crop == (model.preprocessing.crop or crop):
        return model.runtime
    if model.runtime_name == "torch":
        return model.runtime  # eager torch takes any input size
    if not model.has_module:
        raise ValueError(f"multi-scale TTA with the {model.runtime_name} runtime needs the model's torch module; "
                         "an export bundle supports flip only (or use --runtime torch)")
    from imret.runtimes import EncoderSource, create_runtime
    from imret.runtimes.onnx_export import cached_onnx

    provenance, base = model.provenance, model.source
    source = EncoderSource(load_module=lambda: base.module,
                           onnx_path=lambda: cached_onnx(None, provenance, (crop, crop), load_module=lambda: base.module,
                                                         by_provenance=not base.module_handed_out))
    return create_runtime(source, runtime=model.runtime_name, device=model.device)


def tta_provenance(provenance: dict, flip: bool = False, scales: Optional[Sequence[int]] = None) -> dict:
    """The provenance of a model with ``provenance`` once :func:`with_tta` applies ``flip``/``scales``."""
    scales = sorted({int(s) for s in scales}) if scales else None
    if not flip and not scales:
        return dict(provenance)
    return dict(provenance, **{TTA_KEY: {"flip": bool(flip), "scales": scales}})


def with_tta(model: RetrievalModel, flip: bool = False, scales: Optional[Sequence[int]] = None) -> RetrievalModel:
    """``model`` encoding with horizontal flips and/or several crop sizes averaged (``model`` itself when
    neither is asked). ``scales`` are crop sizes in pixels; the model's own size is one of them only if listed."""
    scales = sorted({int(s) for s in scales}) if scales else None
    if scales is not None and any(s < 16 for s in scales):
        raise ValueError(f"TTA scales are crop sizes in pixels (>= 16), got {scales}")
    if not flip and not scales:
        return model
    if isinstance(model, TTAModel) or TTA_KEY in model.provenance:
        raise ValueError("this model already uses test-time augmentation")
    crops = scales or [model.preprocessing.crop or 0]
    views = []
    for crop in crops:
        if scales:
            pipeline = scaled_pipeline(model.preprocessing.pipeline, crop)
            preprocessing = Preprocessing.from_configs(pipeline, {"mean": model.preprocessing.mean,
                                                                  "std": model.preprocessing.std,
                                                                  "to_rgb": model.preprocessing.to_rgb})
        else:
            preprocessing = model.preprocessing
        views.append((preprocessing, _runtime_for(model, crop)))
    provenance = tta_provenance(model.provenance, flip, scales)
    return TTAModel(name=model.name, preprocessing=model.preprocessing, provenance=provenance, runtime=model.runtime,
                    source=model.source, similarity=model.similarity, flip=bool(flip), scales=scales, views=views)


def parse_tta(text: Optional[str]) -> dict:
    """``'flip'``, ``'224,320'``, ``'flip,224,320'`` -> ``{'flip': bool, 'scales': [..] or None}``."""
    if not text:
        return {"flip": False, "scales": None}
    flip, scales = False, []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part == "flip":
            flip = True
        elif part.isdigit():
            scales.append(int(part))
        else:
            raise ValueError(f"--tta: unknown part {part!r}; use flip and/or crop sizes, e.g. flip,224,320")
    return {"flip": flip, "scales": scales or None}


def tta_of(provenance: Optional[dict]) -> dict:
    """The TTA recorded in a provenance (no TTA when absent)."""
    recorded = (provenance or {}).get(TTA_KEY) or {}
    return {"flip": bool(recorded.get("flip", False)), "scales": recorded.get("scales")}
