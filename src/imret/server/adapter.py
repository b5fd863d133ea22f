"""The only module of the server that calls the model, the image decoder and the index.

When ``get_model``, ``imret.io.open_image`` or ``imret.index.open_index`` change, re-point the
functions here; the rest of the server sees :class:`Encoder`, :class:`GallerySnapshot`,
:func:`thumbnail_bytes` and :func:`pointer_token` only.
"""
from __future__ import annotations

import io
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np


def public_model_name(name: str) -> str:
    """The model's name as clients see it: a zoo name as it is, a config file or model folder (recorded by
    its absolute path) by its file or folder name only."""
    return os.path.basename(os.path.normpath(name)) if os.path.isabs(name) else name


class QueryImageError(ValueError):
    """An uploaded query that is not a usable image; the message names the user's file."""


class ImageTooLargeError(QueryImageError):
    """An uploaded query with more pixels than the server accepts."""


class IndexLoadError(RuntimeError):
    """An index or model that cannot be used; the message names no absolute path."""


class UnknownItemError(KeyError):
    """A gallery id that is not in the index."""


@dataclass(frozen=True)
class Hit:
    """One gallery item found for a query."""

    rank: int
    id: str
    score: float
    path: Optional[str]    # relative to the gallery root, None when the index recorded none
    label: Optional[str]


def _scrub(text: str, index_path: str) -> str:
    """``text`` with the index's location reduced to its folder name."""
    name = os.path.basename(os.path.normpath(index_path)) or "index"
    for form in sorted({index_path, os.path.abspath(index_path), os.path.realpath(index_path)}, key=len,
                       reverse=True):
        text = text.replace(form, name)
    return text


def pointer_token(index_path: str) -> Optional[tuple]:
    """A cheap fingerprint of the index's CURRENT file; it changes whenever a new version is published."""
    from imret.index import storage

    try:
        stat = os.stat(os.path.join(index_path, storage.POINTER))
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def check_index(index_path: str) -> int:
    """Open the index once (no model) to fail early; returns its size."""
    from imret.index.gallery import GalleryIndex

    if not os.path.isdir(index_path):
        raise IndexLoadError(f"no index at {index_path}; build one with: imret index GALLERY --out {index_path}")
    try:
        return len(GalleryIndex.open(index_path, mmap=True))
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise IndexLoadError(f"{index_path} is not a readable imret index ({reason})") from None


class Encoder:
    """The model that encodes query images for an index (thread-safe for concurrent calls).

    Work is split in two so that only the forward pass is serialised: :meth:`prepare` (decoding, resize,
    crop: Pillow releases the GIL) runs on any thread, one call per upload; :meth:`encode` runs the
    model on prepared inputs, many at once.
    """

    def __init__(self, searcher: Any, max_pixels: Optional[int] = None, parallel_calls: int = 1) -> None:
        self.model = searcher.model
        if parallel_calls > 1:
            self.model.allow_parallel_calls(parallel_calls)
        self.name = public_model_name(str(getattr(searcher.model, "name", "") or "model"))
        self.max_pixels = max_pixels
        # the model's own test pipeline (JPEGs draft-decoded for its resize), with the server's pixel limit
        transform = searcher.model.transform
        self._transform = transform.with_load_options(max_pixels=max_pixels) if max_pixels else transform

    def prepare(self, data: bytes, name: str) -> Any:
        """The model input of an uploaded image; errors name the file as the user called it."""
        from imret.io import ImageDecodeError, ImageTooLargeError as DecodeTooLarge

        if not data:
            raise QueryImageError(f"{name}: not a readable image (no bytes: the image is empty)")
        try:
            return self._transform(data)
        except DecodeTooLarge as error:
            limit = f"; the server accepts at most {self.max_pixels:,} pixels" if self.max_pixels else ""
            raise ImageTooLargeError(f"{name}: not a readable image ({error.reason}){limit}") from None
        except ImageDecodeError as error:
            raise QueryImageError(f"{name}: not a readable image ({error.reason})") from None
        except (ValueError, OSError) as error:
            raise QueryImageError(f"{name}: not a readable image ({_reason(error, name)})") from None

    def encode(self, inputs: Sequence[Any]) -> np.ndarray:
        """Vectors (n, dim) float32 of :meth:`prepare` results, in order, in one forward pass."""
        return np.asarray(self.model.encode_arrays(list(inputs)), dtype=np.float32)


class GallerySnapshot:
    """One published version of the index, searchable; it stays valid while a request holds it."""

    def __init__(self, searcher: Any, index_path: str, version: str) -> None:
        self._index = searcher.index
        self._index_path = index_path
        self.version = version
        self.count = len(self._index)
        self.dim = int(self._index.dim)
        self.metric = str(self._index.metric)
        self.index_type = self._index.index_type
        manifest = self._index.manifest
        self.updated = manifest.get("updated") or manifest.get("created")
        self.root = self._gallery_root()
        self._rows: Optional[dict[str, int]] = None

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._index

    def _gallery_root(self) -> Optional[str]:
        """The gallery folder the index was made from: each stored path is ``root/id``.

        Derived from a sample of items, all of which must agree; None when they do not, so files
        are not served rather than served from a guessed place.
        """
        ids = self._index.ids[:32] if self.count else []
        roots = set()
        for meta in self._index.get_metadata(ids):
            path, item_id = meta.get("path"), meta.get("id")
            suffix = "/" + str(item_id).replace("/", os.sep) if os.sep != "/" else "/" + str(item_id)
            if not isinstance(path, str) or not os.path.isabs(path) or not path.endswith(suffix):
                return None
            roots.add(path[:-len(suffix)])
        if len(roots) != 1:
            return None
        root = roots.pop()
        return root if root and os.path.dirname(root) != root else None

    def stored_path(self, item_id: str) -> Optional[str]:
        """The absolute path recorded for ``item_id`` at indexing time (server-side use only)."""
        from imret.index.errors import UnknownIdError

        try:
            meta = self._index.get_metadata([item_id])[0]
        except UnknownIdError:
            raise UnknownItemError(item_id) from None
        path = meta.get("path")
        return path if isinstance(path, str) else None

    def _relative(self, meta: dict, item_id: str) -> Optional[str]:
        path = meta.get("path")
        if self.root is None or not isinstance(path, str):
            return None
        relative = os.path.relpath(path, self.root).replace(os.sep, "/")
        return relative if relative == posixpath.normpath(item_id) else None

    def search(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """The best ``k`` items per query vector, best first (ranks from 1)."""
        if self.count == 0:
            return [[] for _ in range(len(vectors))]
        found = self._index.search(np.asarray(vectors, dtype=np.float32), min(k, self.count))
        results = []
        for scores, ids, metas in zip(found.scores, found.ids, found.metadata):
            hits = []
            for rank, (score, item_id, meta) in enumerate(zip(scores, ids, metas), start=1):
                label = meta.get("label")
                hits.append(Hit(rank=rank, id=str(item_id), score=float(score), path=self._relative(meta, item_id),
                                label=label if isinstance(label, str) else None))
            results.append(hits)
        return results

    def vector_of(self, item_id: str) -> np.ndarray:
        """The stored vector of ``item_id`` (1, dim), as indexed: no re-encoding."""
        if item_id not in self._index:
            raise UnknownItemError(item_id)
        getter = getattr(self._index, "get_vectors", None)
        if getter is not None:
            return np.asarray(getter([item_id]), dtype=np.float32)
        if self._rows is None:
            self._rows = {key: row for row, key in enumerate(self._index.ids)}
        return np.asarray(self._index.vectors()[self._rows[item_id]], dtype=np.float32)[None, :]

    def describe(self, item_id: str) -> Hit:
        """The item itself, as a rank-0 hit with score 1 (for showing a query given by id)."""
        meta = self._index.get_metadata([item_id])[0]
        label = meta.get("label")
        return Hit(rank=0, id=item_id, score=1.0, path=self._relative(meta, item_id),
                   label=label if isinstance(label, str) else None)


def _version_name(index_path: str) -> str:
    from imret.index import storage

    try:
        return os.path.basename(storage.current_version(index_path))
    except Exception:
        return "unknown"


def load(index_path: str, runtime: Optional[str] = None, device: Optional[str] = None,
         max_pixels: Optional[int] = None, parallel_calls: int = 1) -> tuple[Encoder, GallerySnapshot]:
    """The model named by the index's provenance and the index's current version; uploads with more
    than ``max_pixels`` pixels to decode are refused; ``parallel_calls`` threads may encode at once."""
    from imret.apis.searcher import IndexSearcher, SearchInputError

    try:
        version = _version_name(index_path)
        # the searcher builds the model the index records, with the index's test-time augmentation
        searcher = IndexSearcher(index_path, runtime=runtime or "auto", device=device)
    except IndexLoadError:
        raise
    except (SearchInputError, KeyError, OSError, ValueError) as error:
        text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        raise IndexLoadError(_scrub(text.splitlines()[0] if text else type(error).__name__, index_path)) from None
    return Encoder(searcher, max_pixels, parallel_calls), GallerySnapshot(searcher, index_path, version)


def reopen(index_path: str, encoder: Encoder) -> GallerySnapshot:
    """The index's current version, checked against the model already loaded."""
    from imret.apis.searcher import IndexSearcher, SearchInputError

    version = _version_name(index_path)
    try:
        searcher = IndexSearcher(index_path, model=encoder.model)
    except (SearchInputError, KeyError, OSError, ValueError) as error:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise IndexLoadError(_scrub(text, index_path)) from None
    return GallerySnapshot(searcher, index_path, version)


def _reason(error: Exception, name: str) -> str:
    """The decoder's message without the name it starts with (the caller puts the user's name first)."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[len(name):].lstrip(" :") if text.startswith(name) else text


def thumbnail_bytes(path: str, name: str, size: int) -> bytes:
    """A JPEG at most ``size`` pixels on its long side of the gallery image at ``path``."""
    from PIL import Image

    from imret.io import ImageDecodeError, image_to_rgb, open_image

    try:
        image = open_image(path, name=name)
        rgb = image_to_rgb(image)
    except ImageDecodeError as error:
        raise QueryImageError(f"{name}: {_reason(error, name)}") from None
    thumb = Image.fromarray(rgb)
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=82, optimize=True)
    return out.getvalue()
