"""The transform type names of imret's pipelines and their classes, without mmengine or torch.

Transform modules mark their classes with :func:`transform_type`; :mod:`.registration` adds them all
to mmengine's ``TRANSFORMS`` registry for datasets and configs, while an encoder's test pipeline
(:class:`imret.apis.pipeline.ImageTransform`) builds them from here, so encoding images loads neither.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T", bound=type)

#: type name -> transform class, filled as the transform modules are imported.
TRANSFORM_TYPES: dict[str, type] = {}
#: Modules holding the transforms that work on image arrays (importing them loads neither torch nor mmengine).
ARRAY_TRANSFORM_MODULES = ("loading", "resize_edge", "resize", "center_crop", "flip", "random_crop",
                           "random_resized_crop")


def transform_type(cls: Optional[T] = None, *, name: Optional[str] = None) -> Any:
    """Class decorator (``@transform_type``) or call (``transform_type(cls, name=...)``) recording a
    transform under ``name`` (default: the class name)."""
    def record(target: T) -> T:
        TRANSFORM_TYPES[name or target.__name__] = target
        return target

    return record if cls is None else record(cls)


def import_array_transforms() -> None:
    """Import the array transform modules, so their classes are in ``TRANSFORM_TYPES``."""
    for module in ARRAY_TRANSFORM_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def array_transform(type_name: str) -> Optional[Callable[..., Any]]:
    """The class of a built-in array transform named ``type_name``, or None (then ask the registry)."""
    import_array_transforms()
    return TRANSFORM_TYPES.get(type_name)
