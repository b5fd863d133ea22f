"""A model's preprocessing as a typed object: the test pipeline plus channel order and mean/std.

Normalization (channel order, mean/std) is done here, in numpy, for every runtime alike; the
pipeline's geometric transforms (resize, crop) run through :class:`~imret.apis.pipeline.ImageTransform`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

FORMAT = "imret-preprocessing/1"


def _number_tuple(values: Any, what: str) -> Optional[tuple[float, ...]]:
    if values is None:
        return None
    values = tuple(float(v) for v in (values if isinstance(values, (list, tuple)) else [values]))
    if what == "std" and any(v == 0 for v in values):
        raise ValueError(f"preprocessing std must not contain zeros, got {list(values)}")
    return values


def _geometry(pipeline: Sequence[dict]) -> tuple[Optional[int], Optional[int], Optional[str]]:
    """(resize, crop, interpolation) read from ResizeEdge/Resize and CenterCrop steps, when plain ints."""
    resize = crop = interpolation = None
    for step in pipeline:
        kind = step.get("type")
        if kind in ("ResizeEdge", "Resize"):
            scale = step.get("scale")
            resize = int(scale) if isinstance(scale, int) else None
            interpolation = step.get("interpolation", "bilinear")
        elif kind == "CenterCrop":
            size = step.get("crop_size")
            crop = int(size) if isinstance(size, int) else None
    return resize, crop, interpolation


@dataclass(frozen=True)
class Preprocessing:
    """How images become encoder inputs.

    ``pipeline`` is the test transform config (LoadImageFromFile, ..., PackInputs); images load as
    BGR, and ``to_rgb`` reverses them. ``mean``/``std`` are on the 0-255 scale (None: no normalization).
    ``resize`` (short side or square scale), ``crop`` and ``interpolation`` describe the pipeline.
    """

    pipeline: tuple = field(compare=True)
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None
    to_rgb: bool = False
    resize: Optional[int] = None
    crop: Optional[int] = None
    interpolation: Optional[str] = None

    @classmethod
    def from_configs(cls, pipeline: Sequence[dict], data_preprocessor: Optional[dict]) -> "Preprocessing":
        """From a test pipeline and a ``ClsDataPreprocessor`` config (mean, std, to_rgb)."""
        steps = tuple(copy.deepcopy(dict(step)) for step in pipeline)
        config = dict(data_preprocessor or {})
        mean, std = _number_tuple(config.get("mean"), "mean"), _number_tuple(config.get("std"), "std")
        if (mean is None) != (std is None):
            raise ValueError("data_preprocessor: give both mean and std, or neither")
        resize, crop, interpolation = _geometry(steps)
        return cls(pipeline=steps, mean=mean, std=std, to_rgb=bool(config.get("to_rgb", False)),
                   resize=resize, crop=crop, interpolation=interpolation)

    @property
    def channel_order(self) -> str:
        """Channel order the encoder receives: 'RGB' or 'BGR'."""
        return "RGB" if self.to_rgb else "BGR"

    @property
    def input_size(self) -> Optional[tuple[int, int]]:
        """(height, width) of every encoder input when the pipeline crops to a fixed square, else None."""
        return (self.crop, self.crop) if self.crop else None

    def normalize(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack pipeline outputs (HWC uint8, BGR) into an encoder batch (N, 3, H, W) float32."""
        arrays = [image[:, :, None] if image.ndim == 2 else image for image in images]
        shapes = {array.shape for array in arrays}
        if len(shapes) > 1:
            raise ValueError(f"the pipeline gives images of different sizes {sorted(shapes)}; "
                             "add a CenterCrop (or a fixed Resize) to its test pipeline")
        batch = np.stack(arrays)
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        if self.to_rgb and batch.shape[-1] == 3:
            batch = batch[..., ::-1]
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        if self.mean is not None:
            shape = (1, -1, 1, 1)
            batch = (batch - np.asarray(self.mean, np.float32).reshape(shape)) / \
                np.asarray(self.std, np.float32).reshape(shape)
        return batch

    def to_json(self) -> dict:
        """Plain JSON (what ``imret export`` writes as preprocessing.json)."""
        return {"format": FORMAT, "pipeline": [dict(step) for step in self.pipeline],
                "mean": list(self.mean) if self.mean else None, "std": list(self.std) if self.std else None,
                "to_rgb": self.to_rgb, "channel_order": self.channel_order, "resize": self.resize,
                "crop": self.crop, "interpolation": self.interpolation}

    @classmethod
    def from_json(cls, data: dict) -> "Preprocessing":
        """Inverse of :meth:`to_json`; ``ValueError`` naming what is wrong."""
        if data.get("format") != FORMAT:
            raise ValueError(f"preprocessing format {data.get('format')!r} is not {FORMAT!r}")
        pipeline = data.get("pipeline")
        if not isinstance(pipeline, list) or not all(isinstance(s, dict) and "type" in s for s in pipeline):
            raise ValueError("preprocessing 'pipeline' must be a list of transform configs")
        return cls.from_configs(pipeline, {"mean": data.get("mean"), "std": data.get("std"),
                                           "to_rgb": bool(data.get("to_rgb", False))})


def timm_preprocessing(model_name: str) -> tuple[list[dict], dict]:
    """(test pipeline, data_preprocessor config) from timm's pretrained config of ``model_name``.

    Resize the short side to ``input_size / crop_pct`` (bicubic etc. as timm says), centre-crop to
    ``input_size``, normalize with timm's mean/std on the 0-255 scale, RGB order.
    """
    cfg = _timm_pretrained_cfg(model_name)
    if cfg.get("crop_mode", "center") != "center":
        raise ValueError(f"timm's {model_name} uses crop_mode={cfg['crop_mode']!r}; only 'center' is supported")
    size = int(cfg["input_size"][-1])
    resize = int(math.floor(size / float(cfg.get("crop_pct", 1.0))))
    pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="ResizeEdge", scale=resize, edge="short", backend="pillow", interpolation=cfg["interpolation"]),
        dict(type="CenterCrop", crop_size=size),
        dict(type="PackInputs"),
    ]
    preprocessor = dict(type="ClsDataPreprocessor", mean=[round(m * 255, 4) for m in cfg["mean"]],
                        std=[round(s * 255, 4) for s in cfg["std"]], to_rgb=True)
    return pipeline, preprocessor


#: The fields of timm's pretrained config that decide the preprocessing.
_TIMM_FIELDS = ("input_size", "crop_pct", "crop_mode", "interpolation", "mean", "std")


def _timm_pretrained_cfg(model_name: str) -> dict:
    """The preprocessing fields of timm's pretrained config of ``model_name``, kept on disk per timm
    version so that a model whose ONNX graph is cached starts without importing timm (and torch)."""
    import json
    from importlib.metadata import version

    from imret.utils.atomic import atomic_output
    from imret.utils.cache_dir import cache_root

    path = cache_root() / "timm" / f"{model_name}-timm{version('timm')}.json"
    try:
        cached = json.loads(path.read_text())
        if isinstance(cached, dict) and all(key in cached for key in ("input_size", "mean", "std", "interpolation")):
            return cached
    except (OSError, ValueError):
        pass  # absent or unreadable: ask timm again
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        raise KeyError(f"timm has no pretrained config for {model_name!r}")
    cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
    fields = {key: cfg[key] for key in _TIMM_FIELDS if key in cfg}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as temp:
            Path(temp).write_text(json.dumps(fields, default=list))
    except OSError:
        pass  # a read-only cache only costs the timm import next time
    return fields
