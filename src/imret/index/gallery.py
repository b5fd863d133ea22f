"""GalleryIndex: vectors, stable string ids, metadata and provenance in one directory."""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..matching import SIMILARITY_FUNCTIONS, rank
from ..version import __version__
from . import storage
from .errors import IndexFormatError, UnknownIdError
from .faiss_backend import (build_faiss_index, faiss_search, prepare_vectors, read_faiss_index,
                            set_search_params, write_faiss_index)
from .metadata_db import count_rows, read_metadata, write_metadata
from .vector_file import DTYPES, read_vectors, write_vectors

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[Sequence[float]]]
BACKENDS = ("exact", "faiss")


@dataclass
class SearchResult:
    """Per query: the best ``k`` scores (larger = more similar), their ids and metadata, best first."""

    scores: np.ndarray
    ids: list[list[str]]
    metadata: list[list[dict]]


def _as_matrix(values: ArrayLike, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().float().numpy()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (n, dim) array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return array


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class GalleryIndex:
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
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        exists = os.path.isdir(path) and bool(os.listdir(path))
        if exists and not (overwrite and storage.is_index_dir(path)):
            what = "an index" if storage.is_index_dir(path) else "a non-empty directory"
            raise FileExistsError(f"{path} is already {what}; open it with GalleryIndex.open"
                                  + (" or pass overwrite=True (--rebuild)" if what == "an index" else ""))
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
    def open(cls, path: str, mmap: bool = True) -> "GalleryIndex":
        """Open the index at ``path``; vectors are memory-mapped unless ``mmap=False``."""
        version = storage.current_version(path)
        manifest = storage.read_manifest(version)
        count, dim, dtype = manifest["count"], manifest["dim"], manifest["dtype"]
        if dtype not in DTYPES or manifest["metric"] not in SIMILARITY_FUNCTIONS:
            raise IndexFormatError(f"{version}: unsupported dtype {dtype!r} or metric {manifest['metric']!r}")
        ids = storage.read_ids(version, count)
        vectors = read_vectors(os.path.join(version, storage.VECTORS), dtype, (count, dim), mmap=mmap)
        metadata_file = os.path.join(version, storage.METADATA)
        if not os.path.isfile(metadata_file):
            raise IndexFormatError(f"{metadata_file}: metadata database is missing")
        rows = count_rows(metadata_file)
        if rows != count:
            raise IndexFormatError(f"{metadata_file}: {rows} metadata rows for {count} vectors")
        faiss_file = os.path.join(version, storage.FAISS)
        return cls(path, manifest, vectors, ids, metadata_file,
                   faiss_file if os.path.isfile(faiss_file) else None)

    # properties -------------------------------------------------------------------------------------
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

    def set_faiss_params(self, **params: float) -> None:
        """Default FAISS search parameters (e.g. ``efSearch=128``, ``nprobe=32``), saved in the manifest."""
        self._manifest["faiss_params"] = dict(self.faiss_params, **params)

    def set_index_type(self, index_type: Optional[str]) -> None:
        """Change the FAISS index type; the FAISS index is rebuilt at the next save or search."""
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

    def _check_ids(self, ids: Sequence[str], what: str) -> list[str]:
        if isinstance(ids, str):
            raise TypeError(f"{what}: ids must be a list of strings, not a single string")
        ids = list(ids)
        bad = [i for i in ids if not isinstance(i, str) or not i]
        if bad:
            raise TypeError(f"{what}: ids must be non-empty strings, got {bad[0]!r}")
        seen: set[str] = set()
        for key in ids:
            if key in seen:
                raise ValueError(f"{what}: id {key!r} appears twice in the same call")
            seen.add(key)
        return ids

    def _check_vectors(self, ids: list[str], vectors: ArrayLike, metadata, what: str) -> np.ndarray:
        array = _as_matrix(vectors, f"{what}: vectors")
        if array.shape[1] != self.dim:
            raise ValueError(f"{what}: vectors have dim {array.shape[1]}, the index at {self.path} has dim {self.dim}")
        if array.shape[0] != len(ids):
            raise ValueError(f"{what}: {len(ids)} ids but {array.shape[0]} vectors")
        if metadata is not None and len(metadata) != len(ids):
            raise ValueError(f"{what}: {len(ids)} ids but {len(metadata)} metadata entries")
        if self.metric == "cosine_similarity":
            array = prepare_vectors(array, self.metric)
        return array.astype(DTYPES[self.dtype][1])

    def add(self, ids: Sequence[str], vectors: ArrayLike, metadata: Optional[Sequence[Mapping]] = None) -> None:
        """Add new ids with their vectors (and metadata dicts); an id already present is an error."""
        ids = self._check_ids(ids, "add")
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
        ids = self._check_ids(ids, "remove")
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
        ids = self._check_ids(ids, "upsert")
        array = self._check_vectors(ids, vectors, metadata, "upsert")
        self._drop([key for key in ids if key in self._row])
        self._append(ids, array, metadata)

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Mapping]) -> None:
        """Replace the metadata of existing ids, keeping their vectors."""
        ids = self._check_ids(ids, "update_metadata")
        if len(metadata) != len(ids):
            raise ValueError(f"update_metadata: {len(ids)} ids but {len(metadata)} metadata entries")
        unknown = [key for key in ids if key not in self._row]
        if unknown:
            raise UnknownIdError(f"update_metadata: id {unknown[0]!r} is not in the index {self.path}")
        for key, meta in zip(ids, metadata):
            self._meta_changes[key] = dict(meta)

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
        array = _as_matrix(queries, "search: queries")
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
                scores, rows = rank(torch.from_numpy(prepare_vectors(array, self.metric)), self.vectors(), k,
                                    "dot_product")
            else:
                scores, rows = rank(torch.from_numpy(array), self.vectors(), k, self.metric)
            scores, rows = scores.numpy(), rows.numpy()
        else:
            index = self._faiss_index()
            set_search_params(index, dict(self.faiss_params, **(faiss_params or {})))
            scores, rows = faiss_search(index, array, k, self.metric)
        ids = self._ids
        hit_ids = [[ids[r] for r in row if r >= 0] for row in rows]
        flat = [key for row in hit_ids for key in row]
        meta = dict(zip(flat, self.get_metadata(flat))) if flat else {}
        return SearchResult(scores[:, :k], hit_ids, [[meta[key] for key in row] for row in hit_ids])

    # persistence ------------------------------------------------------------------------------------
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

        def fill(tmp: str) -> None:
            write_vectors(os.path.join(tmp, storage.VECTORS), vectors, self.dtype,
                          {"format": storage.FORMAT, "metric": self.metric})
            storage.write_json_atomic(os.path.join(tmp, storage.IDS), ids)
            db = os.path.join(tmp, storage.METADATA)
            if old_metadata:
                shutil.copyfile(old_metadata, db)
            write_metadata(db, changes)
            if faiss_index is not None:
                write_faiss_index(faiss_index, os.path.join(tmp, storage.FAISS))
            elif carried_faiss:
                shutil.copyfile(carried_faiss, os.path.join(tmp, storage.FAISS))
            storage.write_json_atomic(os.path.join(tmp, storage.MANIFEST), manifest)

        version = storage.publish_version(self.path, fill)
        self._manifest = manifest
        self._metadata_file = os.path.join(version, storage.METADATA)
        faiss_file = os.path.join(version, storage.FAISS)
        self._faiss_file = faiss_file if os.path.isfile(faiss_file) else None
        self._faiss_stale = manifest["faiss_stale"]
        self._meta_changes = {}

    def __repr__(self) -> str:
        return (f"GalleryIndex({self.path!r}, count={len(self)}, dim={self.dim}, metric={self.metric!r}, "
                f"dtype={self.dtype!r}, index_type={self.index_type!r})")
