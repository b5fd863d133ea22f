"""Searching a saved gallery index with query images, using the model the index was built with."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .pipeline import ImageInput
from .provenance import describe_difference
from .retrieval_model import RetrievalModel
from .zoo import DEFAULT_MODEL, get_model


class SearchInputError(ValueError):
    """A query, index or model that cannot be used; the message says which and what to do."""


@dataclass
class Match:
    """One gallery image found for a query."""

    rank: int
    id: str
    path: str
    score: float
    metadata: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """``{rank, path, score, id}``; a name that is not valid UTF-8 is shown with ``\\xNN`` escapes and
        also given exactly as ``path_b64`` / ``id_b64`` (base64 of its bytes)."""
        from imret.index.names import name_fields

        return {"rank": self.rank, **name_fields("path", self.path), "score": self.score, **name_fields("id", self.id)}


def model_name_of(provenance: Optional[dict]) -> str:
    """The model name recorded in an index's provenance (the default model when there is none)."""
    name = (provenance or {}).get("model")
    return name if isinstance(name, str) and name else DEFAULT_MODEL


def recorded_checkpoint(provenance: Optional[dict]) -> Optional[str]:
    """The checkpoint an index built from a config file was encoded with, when that file still exists
    (its hash is checked against the index like any other model's)."""
    provenance = provenance or {}
    model, weights = provenance.get("model"), provenance.get("weights_file")
    if isinstance(model, str) and model.endswith(".py") and isinstance(weights, str) and os.path.isfile(weights):
        return weights
    return None


def check_provenance(index_path: Union[str, os.PathLike], index_provenance: Optional[dict],
                     model: RetrievalModel) -> None:
    """Raise ``SearchInputError`` when the index was made by a model other than ``model`` or records none."""
    from imret.rerank.dba import encoder_provenance

    if not index_provenance:
        raise SearchInputError(
            f"index {index_path} records no provenance (it was made without naming the model, e.g. through the "
            "Python API), so the model for its queries cannot be checked; rebuild it: "
            f"imret index GALLERY --out {index_path} --model {model.name} --rebuild")
    # gallery-side transforms (DBA) change stored vectors, not how queries are encoded
    index_provenance = encoder_provenance(index_provenance)
    changed = describe_difference(model.provenance, index_provenance)
    if changed:
        # the weights are recorded by hash, not by file: a trained checkpoint has to be named again
        weights = " and its weights (--checkpoint: the checkpoint the index was built with)" \
            if "weights_sha256" in changed else ""
        raise SearchInputError(
            f"index {index_path} was built with another model ({index_provenance.get('model')!r}; differs in "
            f"{changed}); search it with that model{weights}, or rebuild "
            f"it: imret index GALLERY --out {index_path} --model {model.name} --rebuild")


class IndexSearcher:
    """An opened gallery index plus the model that encodes queries for it.

    ``model``: a ``RetrievalModel``, a zoo name, config file or bundle folder (default: the model recorded
    in the index); ``runtime``/``device``/``checkpoint`` apply when it is built here.
    """

    def __init__(self, index_path: Union[str, os.PathLike], model: Optional[Union[str, RetrievalModel]] = None,
                 runtime: str = "auto", device: Optional[str] = None, checkpoint: Optional[str] = None):
        from imret.index import open_index, scheme_of
        from imret.index.redact import redact_credentials

        uri = os.fspath(index_path)
        index_path = redact_credentials(uri)  # what messages and clients see
        self.index_path = Path(uri) if scheme_of(uri) == "local" else index_path
        try:
            self.index = open_index(uri)
        except FileNotFoundError:
            raise SearchInputError(f"no index at {index_path}; build one with: imret index GALLERY --out {index_path}"
                                   ) from None
        except Exception as error:
            raise SearchInputError(f"{index_path} is not a readable imret index ({type(error).__name__}: "
                                   f"{str(error).splitlines()[0] if str(error) else ''})") from None
        if model is None:
            model = model_name_of(self.index.provenance)
            if checkpoint is None:
                checkpoint = recorded_checkpoint(self.index.provenance)
        if isinstance(model, RetrievalModel):
            self.model = model
        else:
            try:
                from .tta import tta_of, with_tta

                # queries are encoded as the gallery was: same model, same test-time augmentation
                self.model = with_tta(get_model(model, pretrained=checkpoint or True, runtime=runtime,
                                                device=device), **tta_of(self.index.provenance))
            except KeyError as error:
                raise SearchInputError(str(error.args[0] if error.args else error)) from None
            except (ValueError, FileNotFoundError) as error:
                raise SearchInputError(" ".join(str(error).split()) or type(error).__name__) from None
        check_provenance(self.index_path, self.index.provenance, self.model)
        self._gallery_view = None

    def __len__(self) -> int:
        return len(self.index)

    def encode_queries(self, queries: Sequence[ImageInput], batch_size: int = 16) -> np.ndarray:
        """Feature vectors of the queries; the first unreadable one raises ``SearchInputError``."""
        return self.model.encode_queries(queries, batch_size, SearchInputError)

    @staticmethod
    def path_of(item_id: str, metadata: Optional[dict] = None) -> str:
        """The gallery file of ``item_id``: the path recorded at indexing time, else the id itself."""
        recorded = (metadata or {}).get("path")
        return recorded if isinstance(recorded, str) and recorded else item_id

    def search(self, queries: Sequence[ImageInput], topk: int = 5, batch_size: int = 16,
               rerank: Any = None, shortlist: int = 100) -> list[list[Match]]:
        """Ranked matches of each query, best first.

        ``rerank``: a re-ranker, its text form (``'qe:k=2'``, ``'alpha-qe:k=3,alpha=3'``,
        ``'k-reciprocal:k1=10,k2=3,lambda=0.1'``) or a list of them applied in order to the best
        ``shortlist`` results of each query (see :mod:`imret.rerank`).
        """
        if topk < 1:
            raise SearchInputError(f"--topk must be >= 1, got {topk}")
        return self.search_vectors(self.encode_queries(queries, batch_size), topk, rerank=rerank, shortlist=shortlist)

    def search_vectors(self, vectors: np.ndarray, topk: int = 5, rerank: Any = None,
                       shortlist: int = 100) -> list[list[Match]]:
        """Ranked matches of query vectors (from :meth:`encode_queries`), best first; ``rerank`` as in :meth:`search`."""
        if topk < 1:
            raise SearchInputError(f"--topk must be >= 1, got {topk}")
        from imret.index.errors import IndexFormatError
        from imret.rerank import parse_reranks

        try:
            rerankers = parse_reranks(rerank)
        except (ValueError, TypeError) as error:
            raise SearchInputError(str(error)) from None
        if len(self.index) == 0:
            return [[] for _ in vectors]
        try:
            if rerankers:
                found = self._reranked(vectors, rerankers, topk, shortlist)
            else:
                found = self.index.search(vectors, min(topk, len(self.index)))
        except IndexFormatError as error:
            raise SearchInputError(str(error)) from None
        results = []
        for scores, ids, metas in zip(found.scores, found.ids, found.metadata):
            matches = []
            for rank, (score, item_id, meta) in enumerate(zip(scores, ids, metas), start=1):
                if item_id is None or item_id == "":
                    continue
                if not np.isfinite(score):
                    raise SearchInputError(f"index {self.index_path} gave a non-finite score for {item_id!r}; "
                                           f"check it with: imret verify {self.index_path}")
                matches.append(Match(rank=rank, id=str(item_id), path=self.path_of(str(item_id), meta),
                                     score=float(score), metadata=dict(meta or {})))
            results.append(matches)
        return results

    def _reranked(self, vectors: np.ndarray, rerankers: list, topk: int, shortlist: int):
        """The index's own search for the shortlist, then the re-rankers, as a ``SearchResult``."""
        from imret.index.gallery import SearchResult
        from imret.rerank import GalleryView, rerank_search
        from imret.rerank.shortlist import check_shortlist

        try:
            if self._gallery_view is None:
                # read once through the back-end interface (any back end), with the row of every id
                ids = list(self.index.iter_ids())
                self._gallery_view = (ids, {item_id: row for row, item_id in enumerate(ids)},
                                      GalleryView(self.index.get_vectors(ids), self.index.metric))
            ids, row_of, view = self._gallery_view
            length = check_shortlist(shortlist, topk, len(self.index))
            found = self.index.search(vectors, length)
            initial = None
            if all(len(row) == length for row in found.ids):
                rows = np.array([[row_of[item_id] for item_id in row] for row in found.ids], dtype=np.int64)
                initial = (np.asarray(found.scores, dtype=np.float32), rows)
            scores, rows = rerank_search(vectors, view, rerankers, topk, length, initial=initial)
        except ValueError as error:
            raise SearchInputError(str(error)) from None
        hit_ids = [[ids[r] for r in row] for row in rows]
        flat = [item_id for row in hit_ids for item_id in row]
        meta = dict(zip(flat, self.index.get_metadata(flat))) if flat else {}
        return SearchResult(scores, hit_ids, [[meta[item_id] for item_id in row] for row in hit_ids])


def matches_to_json(queries: Sequence[str], results: Sequence[Sequence[Match]]) -> list[dict]:
    """``[{'query', 'query_abs', 'matches': [{'rank', 'path', 'score', 'id'}, ...]}, ...]``.

    The query as given plus its absolute path; a match by its id (relative to the gallery root) and
    its absolute path. A name that is not valid UTF-8 also comes as ``<key>_b64`` (see :meth:`Match.to_json`).
    """
    from imret.index.names import name_fields

    return [{**name_fields("query", os.fspath(query)), **name_fields("query_abs", os.path.abspath(query)),
             "matches": [{**match.to_json(), **name_fields("path", os.path.abspath(match.path))}
                         for match in matches]}
            for query, matches in zip(queries, results)]

