"""Opening and creating a gallery index of any back end by URI.

A plain directory path is the ``local`` back end (:class:`~imret.index.gallery.GalleryIndex`); other
back ends answer to their URI scheme (see :func:`~imret.index.backend.register_backend`).
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Mapping, Optional, Union

from .backend import IndexBackend, backend_class

#: Modules whose import registers a built-in back end (each imports its engine lazily).
BUILTIN_BACKENDS = ("imret.index.gallery", "imret.index.milvus")

Uri = Union[str, os.PathLike]


def _load_builtin_backends() -> None:
    for module in BUILTIN_BACKENDS:
        importlib.import_module(module)


def resolve_backend(uri: Uri) -> type[IndexBackend]:
    """The back-end class that handles ``uri``."""
    _load_builtin_backends()
    return backend_class(os.fspath(uri))


def open_index(uri: Uri, *, writable: bool = False, **options: Any) -> IndexBackend:
    """The existing index at ``uri``; ``FileNotFoundError`` when there is none.

    ``writable=True`` announces changes (the back end may first repair what an interrupted writer
    left); ``options`` go to the back end (``mmap`` for local indexes).
    """
    return resolve_backend(uri).open_uri(os.fspath(uri), writable=writable, **options)


def create_index(uri: Uri, dim: int, metric: str = "cosine_similarity",
                 provenance: Optional[Mapping[str, Any]] = None, **options: Any) -> IndexBackend:
    """A new empty index at ``uri``; ``options``: ``overwrite``, ``index_type`` and back-end specific ones."""
    return resolve_backend(uri).create_uri(os.fspath(uri), dim, metric, provenance, **options)
