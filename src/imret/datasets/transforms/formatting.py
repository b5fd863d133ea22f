"""``PackInputs`` (mmpretrain): the last pipeline step, producing ``inputs`` and ``data_samples``."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from imret.structures import DataSample

from .base import BaseTransform
from .types import transform_type

DEFAULT_META_KEYS = ("sample_idx", "img_path", "ori_shape", "img_shape", "scale_factor", "flip",
                     "flip_direction", "ignore_gallery_idx")


def image_to_tensor(img: Any) -> torch.Tensor:
    """An HWC (or HW) array as a CHW tensor of the same dtype and channel order; tensors pass through."""
    if isinstance(img, torch.Tensor):
        return img
    if not isinstance(img, np.ndarray):
        raise TypeError(f"PackInputs: the input image must be a numpy array or a tensor; got {type(img).__name__}")
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3:
        raise ValueError(f"PackInputs: expected an HW or HWC image; got shape {img.shape}")
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


@transform_type
class PackInputs(BaseTransform):
    """Pack ``results`` into ``{'inputs': CHW tensor, 'data_samples': DataSample}``.

    ``inputs`` keeps the dtype and channel order (BGR after ``LoadImageFromFile``; the data
    preprocessor's ``to_rgb`` flips it); a list of images gives a list of tensors. ``gt_label``
    (an int, or a list of gallery indices for retrieval queries) becomes a ``LongTensor``;
    ``gt_score`` a float tensor; ``algorithm_keys`` become data fields and ``meta_keys`` metainfo,
    each only when present in ``results``.
    """

    def __init__(self, input_key: str = "img", algorithm_keys: Sequence[str] = (),
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.input_key = input_key
        self.algorithm_keys = tuple(algorithm_keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if results.get(self.input_key) is None:
            raise KeyError(f"PackInputs: results has no {self.input_key!r} to pack; got keys {sorted(results)}")
        raw = results[self.input_key]
        inputs = [image_to_tensor(x) for x in raw] if isinstance(raw, (list, tuple)) else image_to_tensor(raw)
        sample = DataSample()
        if results.get("gt_label") is not None:
            sample.set_gt_label(results["gt_label"])
        if results.get("gt_score") is not None:
            sample.set_gt_score(results["gt_score"])
        for key in self.algorithm_keys:
            if key in results:
                sample.set_field(results[key], key)
        sample.set_metainfo({key: results[key] for key in self.meta_keys if key in results})
        return {"inputs": inputs, "data_samples": sample}


# mmpretrain's name before 1.0: older configs still write PackClsInputs
transform_type(PackInputs, name="PackClsInputs")
