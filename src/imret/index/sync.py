"""Bring a gallery index in line with a folder of images, encoding only what changed."""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

from . import storage
from .errors import ProvenanceMismatchError
from .gallery import GalleryIndex
from ..utils.hashing import file_sha256
from ..utils.progress import progress_bar
from ..utils.provenance import provenance_differences
from .scan import IMAGE_EXTENSIONS, FileEntry, scan_folder

EncodeFn = Callable[[list[str]], "tuple[np.ndarray, dict[str, str]]"]
DEFAULT_CHECKPOINT_EVERY = 1024


@dataclass
class SyncReport:
    """What a sync did. ``encoded`` counts the images passed to ``encode`` (including failures)."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    encoded: int = 0


def _open_or_create(index_path: str, provenance: Mapping[str, Any], rebuild: bool, index_type: Optional[str],
                    metric: str, dim_hint: Optional[int]) -> Optional[GalleryIndex]:
    if storage.is_index_dir(index_path) and not rebuild:
        index = GalleryIndex.open(index_path, mmap=True)
        differing = provenance_differences(index.provenance, provenance)
        if differing:
            raise ProvenanceMismatchError(
                f"the index {index_path} was built with a different provenance ({', '.join(differing)} differ); "
                "re-encode everything with rebuild=True (--rebuild)")
        if index.metric != metric:
            raise ValueError(f"the index {index_path} uses metric {index.metric!r}, not {metric!r}; "
                             "pass rebuild=True (--rebuild) to rebuild it with the new metric")
        if index_type is not None:
            index.set_index_type(index_type)
        return index
    if dim_hint is None:
        return None
    return GalleryIndex.create(index_path, dim_hint, metric=metric, provenance=provenance,
                               index_type=index_type or None, overwrite=rebuild)


def _metadata(entry: FileEntry, digest: str) -> dict:
    parent = posixpath.dirname(entry.id)
    return {"path": entry.path, "label": parent or None, "size": entry.size, "mtime": entry.mtime,
            "sha256": digest}


def sync_folder(index_path: str, folder: str, encode: EncodeFn, provenance: Mapping[str, Any],
                rebuild: bool = False, index_type: Optional[str] = None, metric: str = "cosine_similarity",
                extensions: Iterable[str] = IMAGE_EXTENSIONS, batch_size: int = 32, progress: bool = True,
                checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> SyncReport:
    """Index the images of ``folder`` into ``index_path``; see DESIGN.md section 5.

    Ids are paths relative to ``folder`` (posix). New and changed images are encoded (changed: size
    or mtime differ and the sha256 differs), deleted ones dropped. Unreadable images are skipped and
    listed in ``report.failed``. Progress is saved every ``checkpoint_every`` encoded images, so an
    interrupted run restarted the same way encodes only what was not yet saved (restart an
    interrupted ``rebuild`` without ``rebuild``). A new index uses ``index_type`` (None: exact only).
    """
    if batch_size <= 0 or checkpoint_every <= 0:
        raise ValueError("batch_size and checkpoint_every must be positive")
    entries, failed = scan_folder(folder, extensions)
    report = SyncReport(failed=dict(failed))
    index = _open_or_create(index_path, provenance, rebuild, index_type, metric, None)

    todo: list[tuple[FileEntry, str, bool]] = []  # (entry, sha256, is_update)
    on_disk = set()
    stored = {}
    if index is not None:
        present = [e.id for e in entries if e.id in index]
        stored = {m["id"]: m for m in index.get_metadata(present)}
    for entry in entries:
        on_disk.add(entry.id)
        meta = stored.get(entry.id)
        if meta is not None and meta.get("size") == entry.size and meta.get("mtime") == entry.mtime:
            report.unchanged += 1
            continue
        try:
            digest = file_sha256(entry.path)
        except OSError as exc:
            report.failed[entry.path] = f"cannot read: {exc.strerror or exc}"
            continue
        if meta is not None and meta.get("sha256") == digest:
            # Touched but identical: refresh size/mtime without re-encoding.
            index.update_metadata([entry.id], [_metadata(entry, digest)])
            report.unchanged += 1
            continue
        todo.append((entry, digest, meta is not None))

    if index is not None:
        gone = [key for key in index.ids if key not in on_disk]
        if gone:
            index.remove(gone)
            report.removed = len(gone)

    since_save = 0
    bar = progress_bar(len(todo), "encoding", enabled=progress)
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            paths = [entry.path for entry, _, _ in batch]
            vectors, batch_failed = encode(paths)
            report.encoded += len(paths)
            batch_failed = {str(p): str(r) for p, r in (batch_failed or {}).items()}
            ok = [item for item in batch if item[0].path not in batch_failed]
            vectors = np.asarray(vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(ok):
                raise ValueError(f"encode returned {vectors.shape[0] if vectors.ndim else 0} vectors for "
                                 f"{len(ok)} images that did not fail; it must return one row per path "
                                 "not listed in failed, in order")
            report.failed.update(batch_failed)
            stale = [entry.id for entry, _, is_update in batch if is_update and entry.path in batch_failed]
            if index is None and ok:
                index = _open_or_create(index_path, provenance, rebuild, index_type, metric, vectors.shape[1])
            if stale and index is not None:
                index.remove([key for key in stale if key in index])
                report.removed += len(stale)
            if ok:
                index.upsert([entry.id for entry, _, _ in ok], vectors, [_metadata(e, d) for e, d, _ in ok])
                report.added += sum(1 for *_, is_update in ok if not is_update)
                report.updated += sum(1 for *_, is_update in ok if is_update)
            since_save += len(batch)
            bar.update(len(batch))
            if since_save >= checkpoint_every and index is not None:
                index.save(build_faiss=False)
                since_save = 0
    finally:
        bar.close()
    if index is not None:
        index.save(build_faiss=True)
    return report
