"""GalleryIndex, the ``local`` back end: vectors, stable string ids, metadata and provenance in one directory.

FAISS is used only here (through :mod:`.faiss_backend`); other back ends bring their own engine.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from ..matching.rank import rank
from ..matching.similarity import SIMILARITY_FUNCTIONS
from ..utils.hashing import file_sha256
from ..version import __version__
from . import storage
from .backend import Fingerprint, IndexBackend, SearchResult, register_backend
from .arguments import as_matrix, check_ids
from .errors import IndexFormatError, UnknownIdError
from .faiss_backend import (build_faiss_index, faiss_search, prepare_vectors, read_faiss_index,
                            set_search_params, write_faiss_index)
from .metadata_db import COLUMNS, NAME_COLUMNS, iter_fingerprints, read_metadata, write_metadata
from .names import name_bytes
from .vector_file import DTYPES, write_vectors

if TYPE_CHECKING:
    import torch

ArrayLike = Union[np.ndarray, "torch.Tensor", Sequence[Sequence[float]]]
BACKENDS = ("exact", "faiss")
#: How far above 1 a cosine score may round before the stored vectors count as not unit length.
COSINE_SCORE_TOLERANCE = {"float32": 1e-3, "float16": 1e-2}


def _check_metadata(key: str, meta: Any, what: str) -> None:
    """Raise ``ValueError`` unless ``meta`` can be stored exactly (a mapping of JSON values, finite numbers)."""
    if not isinstance(meta, Mapping):
        raise TypeError(f"{what}: metadata of id {key!r} must be a mapping, got {type(meta).__name__}")
    for name in NAME_COLUMNS:
        value = meta.get(name)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what}: metadata {name!r} of id {key!r} must be a string, got {value!r}")
        if value is not None:
            name_bytes(value)
    for name in ("size", "mtime"):
        value = meta.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not np.isfinite(value)):
            raise ValueError(f"{what}: metadata {name!r} of id {key!r} must be a finite number, got {value!r}")
    try:
        json.dumps({k: v for k, v in meta.items() if k not in COLUMNS and k != "id"}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: metadata of id {key!r} is not storable as JSON ({exc})") from None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@register_backend("local")
class GalleryIndex(IndexBackend):
    """A directory of gallery vectors searchable by similarity; see DESIGN.md section 5.

    Cosine galleries store unit-length vectors. Changes stay in memory until :meth:`save`,
    which replaces the directory's content atomically.
    """

    def __init__(self, path: str, manifest: dict, vectors: np.ndarray, ids: list[str],
                 metadata_file: Optional[str], faiss_file: Optional[str]) -> None:
        self.path = os.path.abspath(path)
        self._manifest = manifest
        self._base = vectors
        self._ids = list(ids)
        self._row = {key: row for row, key in enumerate(self._ids)}
        self._dead: set[int] = set()
        self._added: list[np.ndarray] = []
        self._meta_changes: dict[str, Optional[dict]] = {}
        self._metadata_file = metadata_file
        self._faiss_file = faiss_file
        self._faiss = None
        self._faiss_stale = bool(manifest.get("faiss_stale", False))

    # construction -----------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str, dim: int, metric: str = "cosine_similarity",
               provenance: Optional[Mapping[str, Any]] = None, dtype: str = "float32",
               index_type: Optional[str] = "Flat", overwrite: bool = False) -> "GalleryIndex":
        """A new empty index at ``path`` (saved at once unless it replaces an existing index).

        ``index_type`` is a FAISS ``index_factory`` string (``'Flat'``, ``'HNSW32'``, ``'IVF1024,PQ32'``)
        or None for exact search only. ``overwrite=True`` replaces an existing index at the next save.
        """
        if metric not in SIMILARITY_FUNCTIONS:
            raise ValueError(f"metric must be one of {', '.join(SIMILARITY_FUNCTIONS)}, got {metric!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if provenance is not None and not isinstance(provenance, Mapping):
            raise TypeError(f"provenance must be a mapping, got {type(provenance).__name__}")
        path = os.fspath(path)
        storage.check_target(path, overwrite)
        storage.repair(path)
        exists = storage.is_index_dir(path)
        manifest = {
            "format": storage.FORMAT, "format_version": storage.FORMAT_VERSION, "dim": dim, "metric": metric,
            "count": 0, "dtype": dtype, "index_type": index_type,
            "backend": "faiss" if index_type else "exact", "faiss_params": {},
            "provenance": dict(provenance or {}), "imret_version": __version__, "created": _now(),
        }
        index = cls(path, manifest, np.empty((0, dim), dtype=DTYPES[dtype][1]), [], None, None)
        if not exists:
            index.save()
        return index

    @classmethod
    def open(cls, path: str, mmap: bool = True, writable: bool = False) -> "GalleryIndex":
        """Open the index at ``path``; vectors are memory-mapped unless ``mmap=False``.

        Checks the manifest's field types and every file's size against it, and the ids' checksum
        (``imret verify`` hashes everything). ``writable=True`` first repairs what an interrupted save
        left (see :func:`storage.repair`); a read-only open never changes the directory.
        ``FileNotFoundError`` when there is no index (missing or empty directory).
        """
        path = os.fspath(path)
        if writable:
            storage.repair(path)
        version = storage.load_version(storage.current_version(path), mmap=mmap)
        return cls(path, version.manifest, version.vectors, version.ids, version.metadata_file, version.faiss_file)

    @classmethod
    def open_uri(cls, uri: str, writable: bool = False, mmap: bool = True) -> "GalleryIndex":
        """:func:`imret.index.open_index` for a directory path."""
        return cls.open(uri, mmap=mmap, writable=writable)

    @classmethod
    def create_uri(cls, uri: str, dim: int, metric: str = "cosine_similarity",
                   provenance: Optional[Mapping[str, Any]] = None, overwrite: bool = False,
                   index_type: Optional[str] = None, dtype: str = "float32") -> "GalleryIndex":
        """:func:`imret.index.create_index` for a directory path (``index_type`` None: exact search only)."""
        return cls.create(uri, dim, metric=metric, provenance=provenance, dtype=dtype, index_type=index_type,
                          overwrite=overwrite)

    @classmethod
    def check_target(cls, uri: str, overwrite: bool = False) -> None:
        storage.check_target(uri, overwrite)

    # properties -------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return self.path

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, key: str) -> bool:
        return key in self._row

    @property
    def ids(self) -> list[str]:
        """Ids in storage order."""
        self._compact()
        return list(self._ids)

    @property
    def dim(self) -> int:
        return self._manifest["dim"]

    @property
    def metric(self) -> str:
        return self._manifest["metric"]

    @property
    def dtype(self) -> str:
        return self._manifest["dtype"]

    @property
    def index_type(self) -> Optional[str]:
        return self._manifest.get("index_type")

    @property
    def provenance(self) -> dict:
        return dict(self._manifest["provenance"])

    def set_provenance(self, provenance: Mapping[str, Any]) -> None:
        """Replace the stored provenance (saved at the next :meth:`save`)."""
        self._manifest["provenance"] = dict(provenance)

    @property
    def manifest(self) -> dict:
        """A copy of the manifest (count reflects unsaved changes)."""
        return dict(self._manifest, count=len(self))

    @property
    def faiss_params(self) -> dict:
        return dict(self._manifest.get("faiss_params") or {})

    @property
    def deferred_work(self) -> bool:
        return bool(self.index_type) and self._faiss_stale and len(self) > 0

    def set_faiss_params(self, **params: float) -> None:
        """Default FAISS search parameters (e.g. ``efSearch=128``, ``nprobe=32``), saved in the manifest."""
        self._manifest["faiss_params"] = dict(self.faiss_params, **params)

    def set_index_type(self, index_type: Optional[str]) -> None:
        """Change the FAISS index type (None: exact only); the FAISS index is rebuilt at the next save or search."""
        if index_type != self.index_type:
            self._manifest.update(index_type=index_type, backend="faiss" if index_type else "exact",
                                  faiss_params={})
            self._invalidate_faiss()

    # vectors ----------------------------------------------------------------------------------------
    def vectors(self) -> np.ndarray:
        """All vectors in storage order (a memory map when opened so and unchanged)."""
        self._compact()
        return self._base

    def _compact(self) -> None:
        if not self._dead and not self._added:
            return
        base_rows = self._base.shape[0]
        keep = np.ones(base_rows, dtype=bool)
        keep[np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))] = False
        alive = np.flatnonzero(keep)
        kept = self._base if len(alive) == base_rows else self._base[alive]
        parts = [np.asarray(kept)] + self._added
        self._base = np.ascontiguousarray(np.concatenate(parts, axis=0), dtype=DTYPES[self.dtype][1])
        self._ids = [self._ids[r] for r in alive] + self._ids[base_rows:]
        self._row = {key: row for row, key in enumerate(self._ids)}
        self._dead.clear()
        self._added = []

    def _invalidate_faiss(self) -> None:
        self._faiss = None
        self._faiss_stale = bool(self.index_type)

    def _check_vectors(self, ids: list[str], vectors: ArrayLike, metadata, what: str) -> np.ndarray:
        array = as_matrix(vectors, f"{what}: vectors")
        if array.shape[1] != self.dim:
            raise ValueError(f"{what}: vectors have dim {array.shape[1]}, the index at {self.path} has dim {self.dim}")
        if array.shape[0] != len(ids):
            raise ValueError(f"{what}: {len(ids)} ids but {array.shape[0]} vectors")
        if metadata is not None:
            if len(metadata) != len(ids):
                raise ValueError(f"{what}: {len(ids)} ids but {len(metadata)} metadata entries")
            for key, meta in zip(ids, metadata):
                _check_metadata(key, meta, what)
        if self.metric == "cosine_similarity":
            zero = ~(np.abs(array) > 0).any(axis=1)
            if zero.any():
                raise ValueError(f"{what}: the vector of id {ids[int(np.argmax(zero))]!r} is zero; a cosine index "
                                 "needs a direction")
            array = prepare_vectors(array, self.metric)
        with np.errstate(over="ignore"):
            stored = array.astype(DTYPES[self.dtype][1])
        if not np.isfinite(stored).all():
            row = int(np.argmin(np.isfinite(stored).all(axis=1)))
            raise ValueError(f"{what}: the vector of id {ids[row]!r} overflows {self.dtype}")
        return stored

    def add(self, ids: Sequence[str], vectors: ArrayLike, metadata: Optional[Sequence[Mapping]] = None) -> None:
        """Add new ids with their vectors (and metadata dicts); an id already present is an error."""
        ids = check_ids(ids, "add")
        for key in ids:
            if key in self._row:
                raise ValueError(f"add: id {key!r} is already in the index {self.path}; use upsert to replace it")
        array = self._check_vectors(ids, vectors, metadata, "add")
        self._append(ids, array, metadata)

    def _append(self, ids: list[str], array: np.ndarray, metadata) -> None:
        if not ids:
            return
        start = len(self._ids)
        self._ids.extend(ids)
        for offset, key in enumerate(ids):
            self._row[key] = start + offset
            self._meta_changes[key] = dict(metadata[offset]) if metadata is not None else {}
        self._added.append(array)
        self._invalidate_faiss()

    def remove(self, ids: Sequence[str]) -> None:
        """Remove ids; an unknown id raises :class:`UnknownIdError` and nothing is removed."""
        ids = check_ids(ids, "remove")
        unknown = [key for key in ids if key not in self._row]
        if unknown:
            raise UnknownIdError(f"remove: {len(unknown)} id(s) not in the index {self.path}, e.g. {unknown[0]!r}")
        self._drop(ids)

    def _drop(self, ids: list[str]) -> None:
        if not ids:
            return
        self._compact_if_added()
        for key in ids:
            self._dead.add(self._row.pop(key))
            self._meta_changes[key] = None
        self._invalidate_faiss()

    def _compact_if_added(self) -> None:
        # Dead rows index the base array only; fold pending additions in first.
        if self._added:
            self._compact()

    def upsert(self, ids: Sequence[str], vectors: ArrayLike, metadata: Optional[Sequence[Mapping]] = None) -> None:
        """Add new ids and replace the vectors (and metadata) of existing ones."""
        ids = check_ids(ids, "upsert")
        array = self._check_vectors(ids, vectors, metadata, "upsert")
        self._drop([key for key in ids if key in self._row])
        self._append(ids, array, metadata)

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Mapping]) -> None:
        """Replace the metadata of existing ids, keeping their vectors."""
        ids = check_ids(ids, "update_metadata")
        if len(metadata) != len(ids):
            raise ValueError(f"update_metadata: {len(ids)} ids but {len(metadata)} metadata entries")
        unknown = [key for key in ids if key not in self._row]
        if unknown:
            raise UnknownIdError(f"update_metadata: id {unknown[0]!r} is not in the index {self.path}")
        for key, meta in zip(ids, metadata):
            _check_metadata(key, meta, "update_metadata")
        for key, meta in zip(ids, metadata):
            self._meta_changes[key] = dict(meta)

    def iter_ids(self) -> Iterator[str]:
        return iter(self.ids)

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        ids = list(ids)
        unknown = [key for key in ids if key not in self._row]
        if unknown:
            raise UnknownIdError(f"get_vectors: id {unknown[0]!r} is not in the index {self.path}")
        self._compact()
        rows = np.fromiter((self._row[key] for key in ids), dtype=np.int64, count=len(ids))
        return np.asarray(self._base[rows], dtype=np.float32).reshape(len(ids), self.dim)

    def iter_fingerprints(self) -> Iterator[tuple[str, Fingerprint]]:
        stored = iter_fingerprints(self._metadata_file) if self._metadata_file else {}
        for key in self.ids:
            meta = self._meta_changes.get(key, False)
            if meta is False:
                yield key, stored.get(key, Fingerprint(None, None, None))
            else:
                meta = meta or {}
                yield key, Fingerprint(meta.get("size"), meta.get("mtime"), meta.get("sha256"))

    def get_metadata(self, ids: Sequence[str]) -> list[dict]:
        """Metadata dict (with ``'id'``) for each id; unknown ids raise :class:`UnknownIdError`."""
        ids = list(ids)
        unknown = [key for key in ids if key not in self._row]
        if unknown:
            raise UnknownIdError(f"get_metadata: id {unknown[0]!r} is not in the index {self.path}")
        stored = read_metadata(self._metadata_file, [k for k in ids if k not in self._meta_changes])
        out = []
        for key in ids:
            meta = self._meta_changes.get(key)
            meta = dict(meta, id=key) if meta is not None else dict(stored.get(key, {"id": key}))
            out.append(meta)
        return out

    # search -----------------------------------------------------------------------------------------
    def _faiss_index(self):
        if self._faiss is None:
            if self._faiss_file and not self._faiss_stale:
                expected = (self._manifest.get("checksums") or {}).get(storage.FAISS)
                if expected is not None and file_sha256(self._faiss_file) != expected["sha256"]:
                    # checked before FAISS parses the file: its reader is not meant for untrusted bytes
                    raise IndexFormatError(f"{self._faiss_file}: checksum mismatch (the content changed after "
                                           "it was written)")
                try:
                    self._faiss = read_faiss_index(self._faiss_file)
                except RuntimeError as exc:
                    raise IndexFormatError(f"{self._faiss_file}: unreadable faiss index ({exc})") from None
                if self._faiss.ntotal != len(self) or self._faiss.d != self.dim:
                    raise IndexFormatError(f"{self._faiss_file}: holds {self._faiss.ntotal} vectors of dim "
                                           f"{self._faiss.d}, the index has {len(self)} of dim {self.dim}")
            else:
                self._faiss = build_faiss_index(self.vectors(), self.index_type, self.metric)
                self._faiss_stale = False
        return self._faiss

    def search(self, queries: ArrayLike, k: int, backend: Optional[str] = None,
               faiss_params: Optional[Mapping[str, float]] = None) -> SearchResult:
        """Best ``k`` gallery items per query (``k`` clamped to the index size).

        ``backend``: 'exact' (the matching engine), 'faiss' (needs an ``index_type``), or None for
        'faiss' when the index has an ``index_type`` and 'exact' otherwise.
        """
        array = as_matrix(queries, "search: queries")
        if array.shape[1] != self.dim:
            raise ValueError(f"search: queries have dim {array.shape[1]}, the index at {self.path} has dim {self.dim}")
        if not isinstance(k, int) or k <= 0:
            raise ValueError(f"search: k must be a positive integer, got {k!r}")
        backend = backend or ("faiss" if self.index_type else "exact")
        if backend not in BACKENDS:
            raise ValueError(f"search: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "faiss" and not self.index_type:
            raise ValueError(f"search: the index at {self.path} has no faiss index_type; use backend='exact'")
        k = min(k, len(self))
        if k == 0:
            return SearchResult(np.zeros((array.shape[0], 0), dtype=np.float32),
                                [[] for _ in array], [[] for _ in array])
        if backend == "exact":
            if self.metric == "cosine_similarity":
                scores, rows = rank(prepare_vectors(array, self.metric), self.vectors(), k, "dot_product")
            else:
                scores, rows = rank(array, self.vectors(), k, self.metric)
        else:
            index = self._faiss_index()
            set_search_params(index, dict(self.faiss_params, **(faiss_params or {})))
            scores, rows = faiss_search(index, array, k, self.metric)
        valid = scores[:, :k][(rows >= 0)[:, :k]]
        bound = 1.0 + COSINE_SCORE_TOLERANCE[self.dtype]
        if not np.isfinite(valid).all() or (backend == "exact" and self.metric == "cosine_similarity"
                                            and (valid > bound).any()):
            where = os.path.join(os.path.dirname(self._metadata_file), storage.VECTORS) if self._metadata_file \
                else self.path
            what = "non-finite scores" if not np.isfinite(valid).all() else "cosine scores above 1"
            raise IndexFormatError(f"{where}: search gave {what} (stored vectors are not finite or not unit "
                                   f"length); check the index with `imret verify {self.path}` and rebuild it")
        ids = self._ids
        hit_ids = [[ids[r] for r in row if r >= 0] for row in rows]
        flat = [key for row in hit_ids for key in row]
        meta = dict(zip(flat, self.get_metadata(flat))) if flat else {}
        return SearchResult(scores[:, :k], hit_ids, [[meta[key] for key in row] for row in hit_ids])

    def verify(self) -> list[str]:
        """Problems of the saved index (every checksum, id, vector and metadata row); see :mod:`.verify`."""
        from .verify import verify_index

        return verify_index(self.path).problems

    # persistence ------------------------------------------------------------------------------------
    def commit(self, checkpoint: bool = False) -> None:
        """:meth:`save`; a ``checkpoint`` leaves a changed FAISS index to be built by the final commit."""
        self.save(build_faiss=not checkpoint)

    def save(self, build_faiss: bool = True) -> None:
        """Write the index atomically: a crash leaves the previous or the new version, never a mix.

        With ``build_faiss=False`` a changed FAISS index is marked stale (rebuilt when next needed).
        """
        vectors = self.vectors()
        faiss_index = None
        if self.index_type and build_faiss and len(self):
            try:
                faiss_index = self._faiss_index()
            except ValueError as exc:
                warnings.warn(f"{self.path}: faiss index not built ({exc}); exact search will be used")
                self._faiss_stale = True
        carried_faiss = None
        if faiss_index is None and self._faiss_file and not self._faiss_stale:
            carried_faiss = self._faiss_file
        manifest = dict(self._manifest, count=len(self), updated=_now(), imret_version=__version__,
                        faiss_stale=bool(self.index_type) and faiss_index is None and carried_faiss is None
                        and len(self) > 0)
        old_metadata = self._metadata_file
        changes = dict(self._meta_changes)
        ids = list(self._ids)

        def fill(tmp: str) -> dict[str, str]:
            digest = write_vectors(os.path.join(tmp, storage.VECTORS), vectors, self.dtype,
                                   {"format": storage.FORMAT, "metric": self.metric})
            storage.write_ids(os.path.join(tmp, storage.IDS), ids)
            db = os.path.join(tmp, storage.METADATA)
            if old_metadata:
                shutil.copyfile(old_metadata, db)
            write_metadata(db, changes)
            if faiss_index is not None:
                write_faiss_index(faiss_index, os.path.join(tmp, storage.FAISS))
            elif carried_faiss:
                shutil.copyfile(carried_faiss, os.path.join(tmp, storage.FAISS))
            return {storage.VECTORS: digest}

        version, manifest = storage.publish_version(self.path, fill, manifest)
        self._manifest = manifest
        self._metadata_file = os.path.join(version, storage.METADATA)
        faiss_file = os.path.join(version, storage.FAISS)
        self._faiss_file = faiss_file if os.path.isfile(faiss_file) else None
        self._faiss_stale = manifest["faiss_stale"]
        self._meta_changes = {}

    def __repr__(self) -> str:
        return (f"GalleryIndex({self.path!r}, count={len(self)}, dim={self.dim}, metric={self.metric!r}, "
                f"dtype={self.dtype!r}, index_type={self.index_type!r})")
