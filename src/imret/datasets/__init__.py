"""Datasets (registered in ``imret.registry.DATASETS``) and their transforms.

Names are imported on first use, so an encoder's test pipeline (``imret.datasets.transforms``) loads
neither mmengine nor torch; :mod:`.registration` (the registry's import location) registers the types.
"""
from importlib import import_module
from typing import Any

from imret.utils.lazy_exports import lazy_exports

_EXPORTS = {
    "BaseDataset": "base_dataset", "CustomDataset": "custom", "labels_to_gallery_indices": "gallery_truth",
    "IMG_EXTENSIONS": "image_files", "InShop": "inshop", "QueryGalleryDataset": "query_gallery",
    "read_query_gallery_file": "query_gallery_file",
}

__all__ = sorted([*_EXPORTS, "transforms"])


_lazy = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> Any:
    if name == "transforms":
        return import_module(".transforms", __name__)
    return _lazy(name)
