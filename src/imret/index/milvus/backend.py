"""The Milvus back end: a gallery index as one Milvus collection (server, cluster or Milvus Lite).

Schema: ``pk`` (VARCHAR(64) primary key, see :mod:`.codec`), ``vector`` (FLOAT_VECTOR) and ``meta``
(JSON: the item's id and metadata). The collection's properties hold the imret format marker, the
metric, the provenance and default search parameters. Changes are kept in memory until
:meth:`MilvusBackend.commit`, which writes them (upserts, then deletes, then the provenance) and
flushes; reads and searches see uncommitted changes. Milvus has no multi-request transactions: a
commit interrupted half-way leaves part of its changes written (a sync run again completes them).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Iterator, Mapping, Optional, Sequence

import numpy as np

from ..backend import Fingerprint, IndexBackend, SearchResult, register_backend
from ..errors import IndexFormatError, UnknownIdError
from ..faiss_backend import prepare_vectors
from ..arguments import as_matrix, check_ids
from .codec import (MILVUS_METRICS, decode_metadata, encode_metadata, item_key,
                    scores_from_distances)
from .index_spec import IndexSpec, parse_index_spec
from .uri import MilvusTarget, parse_milvus_uri

FORMAT = "imret-milvus-gallery"
FORMAT_VERSION = 1
PROP_FORMAT = "imret.format"
PROP_VERSION = "imret.format_version"
PROP_METRIC = "imret.metric"
PROP_PROVENANCE = "imret.provenance"
PROP_SEARCH = "imret.search_params"
CONNECT_TIMEOUT = 10.0
CONNECT_ATTEMPTS = 2
LITE_KEEPALIVE_MS = 330_000
MAX_TOPK = 16384
QUERY_CHUNK = 1024
REQUEST_BYTES = 16 << 20  # rows per write/read request are chosen to stay well under gRPC's 64 MB


class MilvusUnavailableError(ConnectionError):
    """The Milvus server cannot be reached or refused a request; the message names the URI (no credentials)."""


def _pymilvus():
    # gRPC's own log lines (e.g. about closed idle connections) would reach the terminal past imret's reports
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    import pymilvus  # heavy: imported only when a Milvus index is used

    # imret reports failures itself, in one line; pymilvus would also log each failed call with a traceback
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return pymilvus


def _reason(exc: BaseException, target: MilvusTarget) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    text = text[0] if text else type(exc).__name__
    for secret in (target.connect.get("password"), target.connect.get("token")):
        if secret:
            text = text.replace(str(secret), "***")
    return text


def _check_place(target: MilvusTarget, must_exist: bool) -> None:
    if not target.is_lite:
        return
    folder = os.path.dirname(target.lite_path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{target.uri}: folder {folder} does not exist")
    if must_exist and not os.path.exists(target.lite_path):
        raise FileNotFoundError(f"{target.uri}: no Milvus Lite database at {target.lite_path}; create one "
                                f"with: imret index GALLERY --out {target.uri}")


def _connect(target: MilvusTarget, must_exist: bool):
    _check_place(target, must_exist)
    pymilvus = _pymilvus()
    # A connection of its own per opened index (a shared one broken by another user is never handed
    # over). Milvus Lite's in-process server closes idle connections that ping more often than every
    # 5 minutes, and then refuses the next new connection once: keep-alive pings are spaced out there,
    # and a refused first attempt is retried at once.
    options = {"grpc_options": {"grpc.keepalive_time_ms": LITE_KEEPALIVE_MS}} if target.is_lite else {}
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            if target.is_lite:
                return pymilvus.MilvusClient(target.lite_path, dedicated=True, timeout=CONNECT_TIMEOUT, **options)
            return pymilvus.MilvusClient(**target.connect, dedicated=True, timeout=CONNECT_TIMEOUT)
        except Exception as exc:  # pymilvus raises its own exception types and gRPC/OS errors alike
            if attempt + 1 == CONNECT_ATTEMPTS:
                raise MilvusUnavailableError(f"{target.uri}: cannot connect to Milvus ({_reason(exc, target)})") from None


def _rows_per_request(dim: int) -> int:
    return max(1, min(4096, REQUEST_BYTES // (4 * dim + 1024)))


def _index_params(client: Any, spec: IndexSpec, metric: str):
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type=spec.index_type, metric_type=MILVUS_METRICS[metric],
                     params=dict(spec.build))
    return params


@register_backend("milvus")
class MilvusBackend(IndexBackend):
    """A gallery index stored in a Milvus collection; open with ``open_uri`` / ``create_uri``."""

    #: Whether several processes may write into the same index at once (distributed indexing).
    concurrent_writers = True

    def __init__(self, target: MilvusTarget, client: Any, dim: int, metric: str, provenance: Mapping[str, Any],
                 search_params: Mapping[str, Any], index_type: str) -> None:
        self._target = target
        self._client = client
        self._dim = dim
        self._metric = metric
        self._provenance = dict(provenance)
        self._provenance_dirty = False
        self._search_params = dict(search_params)
        self._index_type = index_type
        self._batch = _rows_per_request(dim)
        # uncommitted changes: id -> (vector, metadata) to write, or None to delete
        self._pending: dict[str, Optional[tuple[np.ndarray, dict]]] = {}

    # construction -----------------------------------------------------------------------------------
    @classmethod
    def check_target(cls, uri: str, overwrite: bool = False) -> None:
        """A malformed URI or a missing folder fails here, before any work."""
        _check_place(parse_milvus_uri(uri), must_exist=False)

    @classmethod
    def open_uri(cls, uri: str, writable: bool = False, **options: Any) -> "MilvusBackend":
        """Open an existing imret collection; a missing or foreign collection is a clear error."""
        target = parse_milvus_uri(uri)
        client = _connect(target, must_exist=True)
        try:
            return cls._open_collection(target, client)
        except BaseException:
            client.close()
            raise

    @classmethod
    def _open_collection(cls, target: MilvusTarget, client: Any) -> "MilvusBackend":
        name = target.collection
        try:
            exists = client.has_collection(name)
            info = client.describe_collection(name) if exists else None
            index_info = client.describe_index(name, "vector") if exists else None
        except Exception as exc:
            raise MilvusUnavailableError(f"{target.uri}: Milvus request failed ({_reason(exc, target)})") from None
        if not exists:
            raise FileNotFoundError(f"{target.uri}: no such collection; create it with: imret index GALLERY "
                                    f"--out {target.uri}")
        props = info.get("properties") or {}
        if props.get(PROP_FORMAT) != FORMAT:
            raise IndexFormatError(f"{target.uri}: the collection was not made by imret (no {PROP_FORMAT} property)")
        fields = {f["name"]: f for f in info.get("fields", [])}
        try:
            if int(props.get(PROP_VERSION, 0)) > FORMAT_VERSION:
                raise IndexFormatError(f"{target.uri}: format version {props.get(PROP_VERSION)} is newer than "
                                       f"this imret supports ({FORMAT_VERSION}); upgrade imret")
            dim = int(fields["vector"]["params"]["dim"])
            provenance = json.loads(props.get(PROP_PROVENANCE, "{}"))
            search_params = json.loads(props.get(PROP_SEARCH, "{}"))
            metric = props[PROP_METRIC]
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, IndexFormatError):
                raise
            raise IndexFormatError(f"{target.uri}: unreadable imret collection description ({exc})") from None
        if metric not in MILVUS_METRICS or "pk" not in fields or "meta" not in fields:
            raise IndexFormatError(f"{target.uri}: unexpected schema or metric {metric!r}")
        client.load_collection(name)
        klass = MilvusLiteBackend if target.is_lite else MilvusBackend
        return klass(target, client, dim, metric, provenance, search_params,
                     str((index_info or {}).get("index_type", "FLAT")))

    @classmethod
    def create_uri(cls, uri: str, dim: int, metric: str = "cosine_similarity",
                   provenance: Optional[Mapping[str, Any]] = None, overwrite: bool = False,
                   index_type: Optional[str] = None, search_params: Optional[Mapping[str, Any]] = None,
                   **options: Any) -> "MilvusBackend":
        """A new empty collection.

        ``index_type``: see :mod:`.index_spec` (``FLAT`` default, ``HNSW:M=16,efConstruction=200,ef=64``,
        ``IVF_FLAT:nlist=1024,nprobe=16``, or FAISS-style ``HNSW32``); ``search_params`` add default
        search parameters. ``overwrite=True`` drops an existing collection first (Milvus cannot swap
        collections atomically).
        """
        if metric not in MILVUS_METRICS:
            raise ValueError(f"metric must be one of {', '.join(MILVUS_METRICS)}, got {metric!r}")
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        spec = parse_index_spec(index_type)
        target = parse_milvus_uri(uri)
        pymilvus = _pymilvus()
        client = _connect(target, must_exist=False)
        name = target.collection
        try:
            if client.has_collection(name):
                if not overwrite:
                    raise FileExistsError(f"{target.uri}: the collection already exists; open it, or pass "
                                          "overwrite=True (--rebuild) to replace it")
                client.drop_collection(name)
            schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("pk", pymilvus.DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=dim)
            schema.add_field("meta", pymilvus.DataType.JSON)
            properties = {PROP_FORMAT: FORMAT, PROP_VERSION: str(FORMAT_VERSION), PROP_METRIC: metric,
                          PROP_PROVENANCE: json.dumps(dict(provenance or {}), sort_keys=True),
                          PROP_SEARCH: json.dumps(dict(spec.search, **(search_params or {})), sort_keys=True)}
            client.create_collection(name, schema=schema, index_params=_index_params(client, spec, metric),
                                     consistency_level="Strong", properties=properties)
        except (FileExistsError, ValueError):
            client.close()
            raise
        except Exception as exc:
            client.close()
            raise ValueError(f"{target.uri}: Milvus refused to create the collection with index type "
                             f"{spec.index_type} {spec.build} ({_reason(exc, target)})") from None
        return cls._open_collection(target, client)

    # description ------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return self._target.uri

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return self._metric

    @property
    def index_type(self) -> str:
        return self._index_type

    @property
    def provenance(self) -> dict:
        return dict(self._provenance)

    @property
    def search_params(self) -> dict:
        """Default search parameters (e.g. ``{'ef': 64}``), stored with the collection."""
        return dict(self._search_params)

    def set_provenance(self, provenance: Mapping[str, Any]) -> None:
        self._provenance = dict(provenance)
        self._provenance_dirty = True

    def set_index_type(self, index_type: Optional[str]) -> None:
        """Rebuild the collection's search structure as ``index_type`` (see :meth:`create_uri`)."""
        spec = parse_index_spec(index_type)
        if spec.index_type == self._index_type and not spec.build and not spec.search:
            return
        name = self._target.collection
        try:
            self._client.release_collection(name)
            self._client.drop_index(name, "vector")
            self._client.create_index(name, _index_params(self._client, spec, self.metric))
            self._client.load_collection(name)
        except Exception as exc:
            raise ValueError(f"{self.uri}: cannot switch to index type {spec.index_type} "
                             f"({_reason(exc, self._target)})") from None
        self._index_type = spec.index_type
        self._search_params = dict(spec.search)
        self._call("alter_collection_properties", properties={PROP_SEARCH: json.dumps(spec.search, sort_keys=True)})

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._client is None:
            raise ValueError(f"{self.uri}: the index was closed")
        try:
            return getattr(self._client, method)(self._target.collection, *args, **kwargs)
        except Exception as exc:
            raise MilvusUnavailableError(f"{self.uri}: Milvus {method} failed ({_reason(exc, self._target)})") from None

    def _stored_count(self) -> int:
        return int(self._call("query", filter="", output_fields=["count(*)"])[0]["count(*)"])

    def __len__(self) -> int:
        stored = self._stored_keys(list(self._pending))
        delta = sum((change is not None) - (item_key(i) in stored) for i, change in self._pending.items())
        return self._stored_count() + delta

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, str) or not item_id:
            return False
        if item_id in self._pending:
            return self._pending[item_id] is not None
        return bool(self._stored_keys([item_id]))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r}, dim={self.dim}, metric={self.metric!r})"

    # changes ----------------------------------------------------------------------------------------
    def _stored_keys(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        keys = [item_key(i) for i in ids]
        for start in range(0, len(keys), QUERY_CHUNK):
            rows = self._call("get", ids=keys[start:start + QUERY_CHUNK], output_fields=["pk"])
            found.update(row["pk"] for row in rows)
        return found

    def _present(self, ids: Sequence[str]) -> set[str]:
        stored = self._stored_keys([i for i in ids if i not in self._pending])
        return {i for i in ids if (self._pending[i] is not None if i in self._pending else item_key(i) in stored)}

    def _checked(self, ids: list[str], vectors: Any, metadata: Optional[Sequence[Mapping]], what: str) -> np.ndarray:
        array = as_matrix(vectors, f"{what}: vectors")
        if array.shape[1] != self.dim:
            raise ValueError(f"{what}: vectors have dim {array.shape[1]}, the index at {self.uri} has dim {self.dim}")
        if array.shape[0] != len(ids):
            raise ValueError(f"{what}: {len(ids)} ids but {array.shape[0]} vectors")
        if metadata is not None and len(metadata) != len(ids):
            raise ValueError(f"{what}: {len(ids)} ids but {len(metadata)} metadata entries")
        if self.metric == "cosine_similarity":
            array = prepare_vectors(array, self.metric)
        for item_id, meta in zip(ids, metadata or [{}] * len(ids)):
            encode_metadata(item_id, meta)  # bad metadata fails now, not at commit
        return array

    def _stage(self, ids: list[str], array: np.ndarray, metadata: Optional[Sequence[Mapping]]) -> None:
        for offset, item_id in enumerate(ids):
            meta = dict(metadata[offset]) if metadata is not None else {}
            self._pending[item_id] = (array[offset].copy(), meta)

    def add(self, ids: Sequence[str], vectors: Any, metadata: Optional[Sequence[Mapping]] = None) -> None:
        ids = check_ids(ids, "add")
        array = self._checked(ids, vectors, metadata, "add")
        present = self._present(ids)
        if present:
            first = next(i for i in ids if i in present)
            raise ValueError(f"add: id {first!r} is already in the index {self.uri}; use upsert to replace it")
        self._stage(ids, array, metadata)

    def upsert(self, ids: Sequence[str], vectors: Any, metadata: Optional[Sequence[Mapping]] = None) -> None:
        ids = check_ids(ids, "upsert")
        self._stage(ids, self._checked(ids, vectors, metadata, "upsert"), metadata)

    def _require(self, ids: list[str], what: str) -> None:
        present = self._present(ids)
        unknown = [i for i in ids if i not in present]
        if unknown:
            raise UnknownIdError(f"{what}: {len(unknown)} id(s) not in the index {self.uri}, e.g. {unknown[0]!r}")

    def remove(self, ids: Sequence[str]) -> None:
        ids = check_ids(ids, "remove")
        self._require(ids, "remove")
        for item_id in ids:
            self._pending[item_id] = None

    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Mapping]) -> None:
        ids = check_ids(ids, "update_metadata")
        if len(metadata) != len(ids):
            raise ValueError(f"update_metadata: {len(ids)} ids but {len(metadata)} metadata entries")
        vectors = self.get_vectors(ids)
        for item_id, meta in zip(ids, metadata):
            encode_metadata(item_id, meta)
        self._stage(ids, vectors, metadata)

    def commit(self, checkpoint: bool = False) -> None:
        """Write the buffered changes, the provenance, and flush."""
        changes = list(self._pending.items())
        rows = [{"pk": item_key(i), "vector": c[0].tolist(), "meta": encode_metadata(i, c[1])}
                for i, c in changes if c is not None]
        deletes = [item_key(i) for i, c in changes if c is None]
        for start in range(0, len(rows), self._batch):
            self._call("upsert", rows[start:start + self._batch])
        for start in range(0, len(deletes), QUERY_CHUNK):
            self._call("delete", ids=deletes[start:start + QUERY_CHUNK])
        self._pending = {}
        if self._provenance_dirty:
            self._call("alter_collection_properties",
                       properties={PROP_PROVENANCE: json.dumps(self._provenance, sort_keys=True)})
            self._provenance_dirty = False
        if not checkpoint:
            self._call("flush")

    def close(self) -> None:
        """Release the connection; uncommitted changes are dropped."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def drop(self) -> None:
        """Delete the collection and everything in it."""
        try:
            self._client.drop_collection(self._target.collection)
        except Exception as exc:
            raise MilvusUnavailableError(f"{self.uri}: Milvus drop failed ({_reason(exc, self._target)})") from None

    # reading ----------------------------------------------------------------------------------------
    def _fetch(self, ids: Sequence[str], column: str, what: str) -> list[Any]:
        ids = list(ids)
        wanted = [i for i in ids if i not in self._pending]
        found: dict[str, Any] = {}
        keys = [item_key(i) for i in wanted]
        for start in range(0, len(keys), self._batch):
            for row in self._call("get", ids=keys[start:start + self._batch], output_fields=[column]):
                found[row["pk"]] = row[column]
        out = []
        for item_id in ids:
            change = self._pending.get(item_id, False)
            if change is None or (change is False and item_key(item_id) not in found):
                raise UnknownIdError(f"{what}: id {item_id!r} is not in the index {self.uri}")
            if change is False:
                out.append(found[item_key(item_id)])
            else:
                out.append(change[0] if column == "vector" else encode_metadata(item_id, change[1]))
        return out

    def get_metadata(self, ids: Sequence[str]) -> list[dict]:
        return [decode_metadata(m) for m in self._fetch(ids, "meta", "get_metadata")]

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        rows = self._fetch(ids, "vector", "get_vectors")
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)

    def _iter_meta(self) -> Iterator[dict]:
        if self._client is None:
            raise ValueError(f"{self.uri}: the index was closed")
        try:
            iterator = self._client.query_iterator(self._target.collection, batch_size=self._batch,
                                                   output_fields=["meta"])
        except Exception as exc:
            raise MilvusUnavailableError(f"{self.uri}: Milvus query failed ({_reason(exc, self._target)})") from None
        try:
            while True:
                page = iterator.next()
                if not page:
                    break
                for row in page:
                    meta = decode_metadata(row["meta"])
                    if meta["id"] not in self._pending:
                        yield meta
        finally:
            iterator.close()
        for item_id, change in list(self._pending.items()):
            if change is not None:
                yield decode_metadata(encode_metadata(item_id, change[1]))

    def iter_ids(self) -> Iterator[str]:
        """Every id: the stored ones in primary-key order, then uncommitted additions."""
        for meta in self._iter_meta():
            yield meta["id"]

    def iter_fingerprints(self) -> Iterator[tuple[str, Fingerprint]]:
        for meta in self._iter_meta():
            yield meta["id"], Fingerprint(meta.get("size"), meta.get("mtime"), meta.get("sha256"))

    def _pending_scores(self, queries: np.ndarray) -> tuple[list[str], np.ndarray]:
        live = [(i, c) for i, c in self._pending.items() if c is not None]
        if not live:
            return [], np.zeros((queries.shape[0], 0), np.float32)
        vectors = np.stack([c[0] for _, c in live]).astype(np.float32)
        if self.metric == "euclidean":
            squared = ((queries[:, None, :].astype(np.float64) - vectors[None].astype(np.float64)) ** 2).sum(-1)
            scores = -np.sqrt(squared)
        else:
            scores = queries.astype(np.float64) @ vectors.T.astype(np.float64)
        return [i for i, _ in live], scores.astype(np.float32)

    def search(self, queries: Any, k: int, **params: Any) -> SearchResult:
        """Best ``k`` items per query; ``params`` are Milvus search parameters (``ef``, ``nprobe``, ...)."""
        array = as_matrix(queries, "search: queries")
        if array.shape[1] != self.dim:
            raise ValueError(f"search: queries have dim {array.shape[1]}, the index at {self.uri} has dim {self.dim}")
        if not isinstance(k, int) or k <= 0:
            raise ValueError(f"search: k must be a positive integer, got {k!r}")
        if k > MAX_TOPK:
            k = min(k, len(self))
            if k > MAX_TOPK:
                raise ValueError(f"search: Milvus returns at most {MAX_TOPK} results per query, asked for {k}")
        if self.metric == "cosine_similarity":
            array = prepare_vectors(array, self.metric)
        pending_ids, pending_scores = self._pending_scores(array)
        hidden = [item_key(i) for i in self._pending]  # stored rows replaced or deleted by uncommitted changes
        search_params = {"metric_type": MILVUS_METRICS[self.metric], "params": dict(self._search_params, **params)}
        rows: list[tuple[list[dict], np.ndarray]] = []
        for start in range(0, array.shape[0], QUERY_CHUNK):
            block = array[start:start + QUERY_CHUNK]
            hits = self._call("search", data=block.tolist(), limit=k, output_fields=["meta"],
                              search_params=search_params, anns_field="vector",
                              filter=f"pk not in {json.dumps(hidden)}" if hidden else "")
            for offset, row in enumerate(hits):
                found = [decode_metadata(hit["entity"]["meta"]) for hit in row]
                found_scores = scores_from_distances(np.array([hit["distance"] for hit in row], np.float32),
                                                     self.metric)
                if pending_ids:
                    found += [decode_metadata(encode_metadata(i, self._pending[i][1])) for i in pending_ids]
                    found_scores = np.concatenate([found_scores, pending_scores[start + offset]])
                    order = np.argsort(-found_scores, kind="stable")
                    found, found_scores = [found[i] for i in order], found_scores[order]
                rows.append((found[:k], found_scores[:k]))
        width = max([len(found) for found, _ in rows] + [0])  # k clamped to what the collection holds
        scores = np.full((array.shape[0], width), -np.inf, dtype=np.float32)
        for query, (_, found_scores) in enumerate(rows):
            scores[query, :len(found_scores)] = found_scores
        return SearchResult(scores, [[m["id"] for m in found] for found, _ in rows], [found for found, _ in rows])


@register_backend("milvus-lite")
class MilvusLiteBackend(MilvusBackend):
    """A gallery index in an embedded Milvus Lite database file (one writing process at a time)."""

    concurrent_writers = False
