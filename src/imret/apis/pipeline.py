"""A model's test-time transforms, applied to one image path or array at a time."""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

ImageInput = Union[str, os.PathLike, np.ndarray, bytes]
#: The packing step ends a pipeline for the training engine; encoders take the array before it.
PACKING_STEPS = ("PackInputs",)


def build_step(step: dict) -> Callable:
    """One pipeline step from its config: imret's array transforms are built directly (no mmengine, no
    torch), any other type through the ``TRANSFORMS`` registry (custom transforms of a config)."""
    from imret.datasets.transforms.types import array_transform

    kind = step.get("type")
    cls = array_transform(kind) if isinstance(kind, str) and "_scope_" not in step else None
    if cls is not None:
        return cls(**{key: value for key, value in step.items() if key != "type"})
    from imret.registry import TRANSFORMS

    return TRANSFORMS.build(step)


class ImageTransform:
    """Runs a pipeline config (LoadImageFromFile, resize, crop, ...) on a path or a BGR HWC uint8 array.

    Returns the transformed HWC array (BGR, as loaded); ``Preprocessing.normalize`` makes the
    encoder batch. A final ``PackInputs`` is not run. Arrays skip the loading step, so they must be in
    the loader's convention: BGR channel order, (H, W, 3) uint8 (or (H, W) grey). ``bytes`` are an
    encoded image (e.g. an upload), decoded by the loading step like a file.
    """

    def __init__(self, pipeline_cfg: Sequence[dict]):
        from imret.datasets.transforms.decode_plan import link_resize_plan

        self._config = tuple(dict(step) for step in pipeline_cfg)
        steps = [dict(step) for step in self._config]
        while steps and steps[-1].get("type") in PACKING_STEPS:
            steps.pop()
        if steps and steps[0].get("type") == "LoadImageFromFile":
            steps[0].setdefault("on_error", "raise")
        self._load: Optional[Callable] = build_step(steps[0]) if steps and \
            steps[0].get("type") == "LoadImageFromFile" else None
        rest = steps[1:] if self._load is not None else steps
        self._rest = [build_step(step) for step in rest]
        link_resize_plan([self._load, *self._rest])

    def with_load_options(self, **options: Any) -> "ImageTransform":
        """The same transform with ``options`` (e.g. ``max_pixels``) given to its loading step."""
        if not self._config or self._config[0].get("type") != "LoadImageFromFile":
            raise ValueError("this model's pipeline has no LoadImageFromFile step to give options to")
        return ImageTransform([{**self._config[0], **options}, *self._config[1:]])

    def __call__(self, image: ImageInput) -> np.ndarray:
        """The transformed image (HWC uint8, BGR); raises ``ValueError`` (or the loader's error) on failure."""
        if isinstance(image, np.ndarray):
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            if image.ndim != 3 or image.shape[2] not in (3, 4):
                raise ValueError(f"an image array must be (H, W, 3) BGR; got shape {image.shape}")
            image = np.ascontiguousarray(image[:, :, :3])
            results: Any = dict(img=image, img_shape=image.shape[:2], ori_shape=image.shape[:2])
        else:
            results = dict(img_bytes=bytes(image)) if isinstance(image, (bytes, bytearray)) else \
                dict(img_path=os.fspath(image))
            if self._load is None:
                raise ValueError("this model's pipeline has no LoadImageFromFile step; pass image arrays")
            results = self._load(results)
            if results is None:
                raise ValueError("not a readable image")
        for step in self._rest:
            results = step(results)
            if results is None:
                raise ValueError(f"transform {type(step).__name__} dropped the image")
        img = results.get("img")
        if not isinstance(img, np.ndarray):
            raise ValueError(f"the pipeline did not produce an image array (got {type(img).__name__})")
        return img
