"""Adds every imret transform to mmengine's ``TRANSFORMS`` registry (its import location)."""
from imret.registry import TRANSFORMS

from . import compose, formatting  # noqa: F401  (transforms that need the registry or torch)
from .types import TRANSFORM_TYPES, import_array_transforms

import_array_transforms()
for _name, _cls in TRANSFORM_TYPES.items():
    if TRANSFORMS.get(_name) is not _cls:
        TRANSFORMS.register_module(name=_name, module=_cls)
