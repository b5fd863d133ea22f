"""Registers imret's dataset and transform types (the registries' import location for datasets)."""
from . import custom, inshop, query_gallery  # noqa: F401  (register dataset type names)
from .transforms import registration  # noqa: F401  (registers transform type names)
