"""Adds every imret transform to mmengine's ``TRANSFORMS`` registry (its import location)."""
from imret.registry import TRANSFORMS

from . import compose, formatting  # noqa: F401  (transforms that need the registry or torch)
from .types import TRANSFORM_TYPES, array_transform

array_transform("")  # imports the array transform modules
for _name, _cls in TRANSFORM_TYPES.items():
    if TRANSFORMS.get(_name) is not _cls:
        TRANSFORMS.register_module(name=_name, module=_cls)
