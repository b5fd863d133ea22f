"""Distributed indexing without the processes: what to encode, who encodes what, and the shard files.

The files to encode are cut, in id order, into chunks of ``shard_size`` files; chunk ``j`` belongs
to rank ``j % world_size``. A rank writes each chunk it encodes to a shard file (safetensors,
written atomically) named by the chunk's key: a hash of the provenance and of every file's id,
size and mtime. A later run (same or another world size) reuses a shard whose key matches instead
of encoding it again. The committing process then reads vectors from the shards through
:class:`ShardLookup`, an ``encode`` function for ``sync_folder``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from ..utils.atomic import atomic_output
from .scan import FileEntry

EncodeFn = Callable[[list[str]], "tuple[np.ndarray, dict[str, str]]"]
SHARD_SUFFIX = ".safetensors"
SHARD_FORMAT = "imret-index-shard"
DEFAULT_SHARD_SIZE = 256


def files_to_encode(entries: Iterable[FileEntry], stored: Mapping[str, tuple]) -> list[FileEntry]:
    """Entries not stored with the same (size, mtime); ``stored`` maps id -> (size, mtime)."""
    return [e for e in entries if stored.get(e.id) != (e.size, e.mtime)]


def make_chunks(todo: Sequence[FileEntry], shard_size: int) -> list[list[FileEntry]]:
    """``todo`` sorted by id, cut into consecutive chunks of ``shard_size`` files."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    ordered = sorted(todo, key=lambda e: e.id)
    return [ordered[start:start + shard_size] for start in range(0, len(ordered), shard_size)]


def chunks_of_rank(chunks: Sequence[Sequence[FileEntry]], rank: int, world_size: int) -> list[int]:
    """Numbers of the chunks that ``rank`` encodes (round robin, so ranks get similar shares)."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside a world of size {world_size}")
    return list(range(rank, len(chunks), world_size))


def chunk_key(chunk: Sequence[FileEntry], provenance: Mapping) -> str:
    """The key of a chunk's shard: the same files unchanged and the same model give the same key."""
    text = json.dumps({"provenance": provenance, "files": [[e.id, e.size, e.mtime] for e in chunk]},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass
class Shard:
    """Vectors of the readable files of one chunk (rows follow ``ids``) and the unreadable ones."""

    key: str
    ids: list[str]
    paths: list[str]
    sizes: list[int]
    mtimes: list[float]
    vectors: np.ndarray
    failed: dict[str, str] = field(default_factory=dict)


class ShardStore:
    """Shard files in one staging directory, keyed by :func:`chunk_key`."""

    def __init__(self, directory: str) -> None:
        self.directory = os.path.abspath(directory)

    def path(self, key: str) -> str:
        return os.path.join(self.directory, f"shard-{key}{SHARD_SUFFIX}")

    def save(self, shard: Shard) -> str:
        """Write ``shard`` durably and atomically; returns its path."""
        from safetensors.numpy import save_file

        vectors = np.ascontiguousarray(shard.vectors, dtype=np.float32)
        if vectors.shape[0] != len(shard.ids):
            raise ValueError(f"shard {shard.key}: {len(shard.ids)} ids but {vectors.shape[0]} vectors")
        header = {"format": SHARD_FORMAT, "key": shard.key,
                  "items": json.dumps([shard.ids, shard.paths, shard.sizes, shard.mtimes], ensure_ascii=True),
                  "failed": json.dumps(shard.failed, ensure_ascii=True)}
        os.makedirs(self.directory, exist_ok=True)
        target = self.path(shard.key)
        with atomic_output(target, durable=True) as tmp:
            save_file({"vectors": vectors}, tmp, metadata=header)
        return target

    def load(self, key: str) -> Optional[Shard]:
        """The shard stored under ``key``, or None when absent or unreadable (it is then encoded again)."""
        from safetensors import safe_open

        path = self.path(key)
        if not os.path.isfile(path):
            return None
        try:
            with safe_open(path, framework="numpy") as handle:
                header = handle.metadata() or {}
                vectors = handle.get_tensor("vectors")
            ids, paths, sizes, mtimes = json.loads(header["items"])
            failed = json.loads(header["failed"])
            if header.get("format") != SHARD_FORMAT or header.get("key") != key or len(ids) != vectors.shape[0]:
                return None
        except Exception:  # a torn or foreign file: never trusted, re-encoded
            return None
        return Shard(key, ids, paths, sizes, mtimes, np.asarray(vectors, dtype=np.float32), failed)

    def keys(self) -> list[str]:
        if not os.path.isdir(self.directory):
            return []
        return sorted(name[len("shard-"):-len(SHARD_SUFFIX)] for name in os.listdir(self.directory)
                      if name.startswith("shard-") and name.endswith(SHARD_SUFFIX))


@dataclass
class ShareReport:
    """What one rank did with its chunks."""

    encoded: int = 0
    reused: int = 0
    shards_written: int = 0
    shards_reused: int = 0
    dim: Optional[int] = None


def encode_share(store: ShardStore, chunks: Sequence[Sequence[FileEntry]], numbers: Iterable[int],
                 encode: EncodeFn, provenance: Mapping,
                 on_shard: Optional[Callable[[Shard], None]] = None) -> ShareReport:
    """Encode the chunks ``numbers`` into shards, reusing the shards already stored.

    ``on_shard`` is called with every shard of the share (written or reused), e.g. to upsert it.
    """
    report = ShareReport()
    for number in numbers:
        chunk = chunks[number]
        key = chunk_key(chunk, provenance)
        shard = store.load(key)
        if shard is not None:
            report.shards_reused += 1
            report.reused += len(chunk)
        else:
            vectors, failed = encode([e.path for e in chunk])
            failed = {str(p): str(r) for p, r in (failed or {}).items()}
            ok = [e for e in chunk if e.path not in failed]
            vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ok), -1)
            shard = Shard(key, [e.id for e in ok], [e.path for e in ok], [e.size for e in ok],
                          [e.mtime for e in ok], vectors, failed)
            store.save(shard)
            report.shards_written += 1
            report.encoded += len(chunk)
        if shard.vectors.shape[0]:
            report.dim = int(shard.vectors.shape[1])
        if on_shard is not None:
            on_shard(shard)
    return report


class ShardLookup:
    """An ``encode(paths)`` for ``sync_folder`` that takes vectors from shards.

    A path is served from a shard only while its size and mtime are those the shard recorded;
    anything else goes to ``fallback`` (the real encoder). ``encoded`` counts the fallback's images.
    """

    def __init__(self, shards: Iterable[Shard], fallback: EncodeFn) -> None:
        self._rows: dict[str, tuple[np.ndarray, int, float]] = {}
        self._failed: dict[str, str] = {}
        for shard in shards:
            for row, path in enumerate(shard.paths):
                self._rows[path] = (shard.vectors[row], shard.sizes[row], shard.mtimes[row])
            self._failed.update(shard.failed)
        self._fallback = fallback
        self.encoded = 0

    def _current(self, path: str) -> bool:
        try:
            stat = os.stat(path)
        except OSError:
            return False
        _, size, mtime = self._rows[path]
        return (stat.st_size, stat.st_mtime) == (size, mtime)

    def __call__(self, paths: Sequence[str]) -> tuple[np.ndarray, dict[str, str]]:
        paths = list(paths)
        missing = [p for p in paths if not ((p in self._rows and self._current(p)) or p in self._failed)]
        fresh: dict[str, np.ndarray] = {}
        failed = {p: self._failed[p] for p in paths if p in self._failed and p not in missing}
        if missing:
            vectors, newly_failed = self._fallback(missing)
            self.encoded += len(missing)
            newly_failed = {str(p): str(r) for p, r in (newly_failed or {}).items()}
            failed.update(newly_failed)
            fresh = dict(zip([p for p in missing if p not in newly_failed], np.asarray(vectors, dtype=np.float32)))
        rows = [fresh[p] if p in fresh else self._rows[p][0] for p in paths if p not in failed]
        dim = rows[0].shape[0] if rows else 0
        return (np.stack(rows) if rows else np.zeros((0, dim), np.float32)), failed
