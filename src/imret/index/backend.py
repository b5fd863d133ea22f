"""The interface every gallery index back end implements, and opening one by URI.

A back end stores vectors under stable string ids with metadata and the provenance of the model
that made them, and searches them. ``local`` is a directory (safetensors + SQLite + optional
FAISS); other back ends (e.g. Milvus) register a URI scheme with :func:`register_backend`.
Changes may be buffered until :meth:`IndexBackend.commit`, which makes them durable at once.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np


@dataclass
class SearchResult:
    """Per query: the best ``k`` scores (larger = more similar), their ids and metadata, best first."""

    scores: np.ndarray
    ids: list[list[str]]
    metadata: list[list[dict]]


@dataclass(frozen=True)
class Fingerprint:
    """What sync compares to decide whether a gallery file changed since it was encoded."""

    size: Optional[int]
    mtime: Optional[float]
    sha256: Optional[str]


class IndexBackend(abc.ABC):
    """Vectors by stable string id, with metadata and provenance; see DESIGN.md sections 5 and 9."""

    #: URI scheme this back end answers to (``'local'`` for a plain directory path).
    scheme: str = ""

    # description -------------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def uri(self) -> str:
        """Where the index lives, without credentials (safe to print)."""

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @property
    @abc.abstractmethod
    def metric(self) -> str:
        """``'cosine_similarity'``, ``'dot_product'`` or ``'euclidean'``."""

    @property
    @abc.abstractmethod
    def provenance(self) -> dict:
        """What made the stored vectors (compared before mixing in new ones)."""

    @abc.abstractmethod
    def set_provenance(self, provenance: Mapping[str, Any]) -> None:
        """Replace the stored provenance (durable at the next :meth:`commit`)."""

    def set_index_type(self, index_type: Optional[str]) -> None:
        """Switch the engine's search structure (e.g. ``'HNSW32'``); back ends that cannot refuse."""
        raise NotImplementedError(f"the {self.scheme} back end cannot change its index type")

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of live ids, uncommitted changes included."""

    @abc.abstractmethod
    def __contains__(self, item_id: object) -> bool:
        """Whether ``item_id`` is stored."""

    # changes -----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def add(self, ids: Sequence[str], vectors: Any, metadata: Optional[Sequence[Mapping]] = None) -> None:
        """Add new ids; an id already present is an error and nothing is added."""

    @abc.abstractmethod
    def upsert(self, ids: Sequence[str], vectors: Any, metadata: Optional[Sequence[Mapping]] = None) -> None:
        """Add new ids and replace the vectors and metadata of existing ones."""

    @abc.abstractmethod
    def remove(self, ids: Sequence[str]) -> None:
        """Remove ids; an unknown id raises ``UnknownIdError`` and nothing is removed."""

    @abc.abstractmethod
    def update_metadata(self, ids: Sequence[str], metadata: Sequence[Mapping]) -> None:
        """Replace the metadata of existing ids, keeping their vectors."""

    @abc.abstractmethod
    def commit(self, checkpoint: bool = False) -> None:
        """Make every change so far durable, atomically where the engine allows.

        ``checkpoint=True`` marks an intermediate commit of a long run: the back end may defer
        expensive work (such as building an approximate search structure) to the final commit.
        """

    @property
    def deferred_work(self) -> bool:
        """Whether a final :meth:`commit` has work left by checkpoint commits though nothing changed since."""
        return False

    def close(self) -> None:
        """Release files and connections (the default does nothing)."""

    def __enter__(self) -> "IndexBackend":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # reading -----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def iter_ids(self) -> Iterator[str]:
        """Every stored id, in the back end's order."""

    @abc.abstractmethod
    def get_metadata(self, ids: Sequence[str]) -> list[dict]:
        """Metadata dict (with ``'id'``) per id; unknown ids raise ``UnknownIdError``."""

    @abc.abstractmethod
    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors (len(ids), dim) as float32; unknown ids raise ``UnknownIdError``."""

    def iter_fingerprints(self) -> Iterator[tuple[str, Fingerprint]]:
        """Every id with the file fingerprint recorded when it was encoded (for incremental sync)."""
        ids = list(self.iter_ids())
        for start in range(0, len(ids), 4096):
            chunk = ids[start:start + 4096]
            for item_id, meta in zip(chunk, self.get_metadata(chunk)):
                yield item_id, Fingerprint(meta.get("size"), meta.get("mtime"), meta.get("sha256"))

    @abc.abstractmethod
    def search(self, queries: Any, k: int, **params: Any) -> SearchResult:
        """Best ``k`` items per query (``k`` clamped to the count); ``params`` are engine search options.

        Scores are finite; a stored vector that would give a non-finite score is an ``IndexFormatError``.
        """

    def verify(self) -> list[str]:
        """Problems found by reading everything back (one line each, naming what is wrong); [] when sound."""
        problems = []
        ids = list(self.iter_ids())
        if len(ids) != len(self) or len(set(ids)) != len(ids):
            problems.append(f"{self.uri}: {len(ids)} ids listed ({len(set(ids))} distinct) for a count of {len(self)}")
        for start in range(0, len(ids), 4096):
            chunk = ids[start:start + 4096]
            vectors = self.get_vectors(chunk)
            finite = np.isfinite(vectors).all(axis=1)
            if not finite.all():
                problems.append(f"{self.uri}: vector of id {chunk[int(np.argmin(finite))]!r} is not finite")
            elif self.metric == "cosine_similarity":
                norms = np.linalg.norm(vectors.astype(np.float64), axis=1)
                off = np.abs(norms - 1.0) > 1e-2
                if off.any():
                    problems.append(f"{self.uri}: vector of id {chunk[int(np.argmax(off))]!r} has norm "
                                    f"{norms[int(np.argmax(off))]:.4g}, not 1 (cosine index)")
        return problems

    @classmethod
    def check_target(cls, uri: str, overwrite: bool = False) -> None:
        """Raise ``FileExistsError``/``ValueError`` now if ``create_uri(uri, overwrite=...)`` would refuse."""


BackendOpener = Callable[..., IndexBackend]
_SCHEMES: dict[str, type[IndexBackend]] = {}


def register_backend(scheme: str) -> Callable[[type[IndexBackend]], type[IndexBackend]]:
    """Class decorator: URIs starting with ``scheme`` (``'milvus'`` for ``milvus://...``) open this class.

    The class implements the class methods

    * ``open_uri(uri, writable=False, **options)``: the existing index; ``FileNotFoundError`` when there
      is none at ``uri``. ``writable=True`` announces changes: the back end may repair what an
      interrupted writer left; a read-only open never modifies anything.
    * ``create_uri(uri, dim, metric, provenance, overwrite=False, index_type=None, **options)``: a new
      empty index; ``overwrite=True`` replaces an existing index (at the first commit where possible).
    * optionally ``check_target(uri, overwrite)``: raise before any work when ``create_uri`` would refuse.
    """
    def decorate(cls: type[IndexBackend]) -> type[IndexBackend]:
        _SCHEMES[scheme] = cls
        cls.scheme = scheme
        return cls
    return decorate


def backend_schemes() -> list[str]:
    """Registered URI schemes."""
    return sorted(_SCHEMES)


def scheme_of(uri: str) -> str:
    """The back-end scheme of ``uri``: the part before ``://`` or ``:`` when registered, else ``'local'``."""
    text = str(uri)
    for separator in ("://", ":"):
        head, found, _ = text.partition(separator)
        if found and head in _SCHEMES and head != "local":
            return head
    return "local"


def backend_class(uri: str) -> type[IndexBackend]:
    """The class that handles ``uri``."""
    scheme = scheme_of(uri)
    if scheme not in _SCHEMES:
        raise ValueError(f"no index back end for {uri!r}; known schemes: {', '.join(backend_schemes()) or 'none'}")
    return _SCHEMES[scheme]
