"""Bring a gallery index of any back end in line with a folder of images, encoding only what changed."""
from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np

from ..utils.hashing import file_sha256
from ..utils.progress import progress_bar
from ..utils.provenance import provenance_differences
from .backend import Fingerprint, IndexBackend
from .errors import EncoderUnavailableError, ProvenanceMismatchError
from .factory import create_index, open_index, resolve_backend
from .names import name_bytes
from .scan import IMAGE_EXTENSIONS, FileEntry, scan_folder

EncodeFn = Callable[[list[str]], "tuple[np.ndarray, dict[str, str]]"]
DEFAULT_CHECKPOINT_EVERY = 1024


@dataclass
class SyncReport:
    """What a sync did. ``encoded`` counts the images encoded into vectors (failures are in ``failed``);
    ``count`` is the number of items in the index afterwards."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    encoded: int = 0
    count: int = 0


def _check_compatible(index: IndexBackend, provenance: Mapping[str, Any], metric: str) -> None:
    differing = provenance_differences(index.provenance, provenance)
    if differing:
        raise ProvenanceMismatchError(
            f"the index {index.uri} was built with a different provenance ({', '.join(differing)} differ); "
            "re-encode everything with rebuild=True (--rebuild)")
    if index.metric != metric:
        raise ValueError(f"the index {index.uri} uses metric {index.metric!r}, not {metric!r}; "
                         "pass rebuild=True (--rebuild) to rebuild it with the new metric")


def _metadata(entry: FileEntry, digest: str) -> dict:
    parent = posixpath.dirname(entry.id)
    return {"path": entry.path, "label": parent or None, "size": entry.size, "mtime": entry.mtime,
            "sha256": digest}


def _encode_batch(encode: EncodeFn, paths: list[str]) -> tuple[np.ndarray, dict[str, str], list[str]]:
    """(vectors of the paths that did not fail, {path: reason}, those paths).

    An encoder that raises on a batch is retried one path at a time, so one bad file fails only itself.
    """
    try:
        vectors, failed = encode(paths)
    except EncoderUnavailableError:
        raise
    except Exception as error:  # the encoder's own failure on some file: isolate it
        if len(paths) == 1:
            return np.zeros((0, 0), np.float32), {paths[0]: f"{type(error).__name__}: {error}"}, []
        rows, failed, ok = [], {}, []
        for path in paths:
            one_vectors, one_failed, one_ok = _encode_batch(encode, [path])
            failed.update(one_failed)
            if one_ok:
                rows.append(one_vectors)
                ok.extend(one_ok)
        return (np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)), failed, ok
    failed = {str(p): str(r) for p, r in (failed or {}).items()}
    ok = [p for p in paths if p not in failed]
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(ok):
        raise ValueError(f"encode returned {vectors.shape[0] if vectors.ndim else 0} vectors for "
                         f"{len(ok)} images that did not fail; it must return one row per path "
                         "not listed in failed, in order")
    return vectors, failed, ok


def sync_folder(index: Union[str, os.PathLike, IndexBackend], folder: str, encode: EncodeFn,
                provenance: Mapping[str, Any], rebuild: bool = False, index_type: Optional[str] = None,
                metric: str = "cosine_similarity", extensions: Iterable[str] = IMAGE_EXTENSIONS,
                batch_size: int = 32, progress: bool = True, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                backend_options: Optional[Mapping[str, Any]] = None,
                create_options: Optional[Mapping[str, Any]] = None) -> SyncReport:
    """Index the images of ``folder`` into ``index`` (a URI or an opened back end); see DESIGN.md section 5.

    Ids are paths relative to ``folder`` (posix). New and changed images are encoded (changed: size
    or mtime differ and the sha256 differs), deleted ones dropped. Unreadable images (and images the
    encoder gives a non-finite vector) are skipped and listed in ``report.failed``; no single file
    fails the run. Progress is committed every ``checkpoint_every`` encoded images, so an interrupted
    run restarted the same way encodes only what was not yet committed (restart an interrupted
    ``rebuild`` without ``rebuild``). A new index uses ``index_type`` (None: exact only).
    ``backend_options`` go to :func:`open_index` and :func:`create_index` (e.g. connection settings),
    ``create_options`` only to :func:`create_index` (e.g. ``dtype='float16'``). ``provenance`` (what
    makes the vectors) is required: it is compared before vectors are mixed.
    """
    if batch_size <= 0 or checkpoint_every <= 0:
        raise ValueError("batch_size and checkpoint_every must be positive")
    if not isinstance(provenance, Mapping) or not provenance:
        raise ValueError("sync_folder needs the provenance of the encoder (what makes the vectors), got "
                         f"{provenance!r}")
    options = dict(backend_options or {})
    entries, failed = scan_folder(folder, extensions)
    report = SyncReport(failed=dict(failed))

    backend: Optional[IndexBackend] = None
    uri: Optional[str] = None
    if isinstance(index, IndexBackend):
        backend = index
        if rebuild:
            backend.remove(list(backend.iter_ids()))
            backend.set_provenance(provenance)
        elif len(backend) or backend.provenance:
            _check_compatible(backend, provenance, metric)
        else:
            backend.set_provenance(provenance)
    else:
        uri = os.fspath(index)
        if rebuild:
            resolve_backend(uri).check_target(uri, overwrite=True)
        else:
            try:
                backend = open_index(uri, writable=True, **options)
            except FileNotFoundError:
                resolve_backend(uri).check_target(uri, overwrite=False)
            else:
                _check_compatible(backend, provenance, metric)
    changed = rebuild and backend is not None
    if backend is not None and index_type is not None and not rebuild:
        backend.set_index_type(index_type)  # a new type is built by the final commit (deferred_work)
    stored: dict[str, Fingerprint] = dict(backend.iter_fingerprints()) if backend is not None else {}

    todo: list[tuple[FileEntry, str, bool]] = []  # (entry, sha256, is_update)
    on_disk = set()
    for entry in entries:
        on_disk.add(entry.id)
        known = stored.get(entry.id)
        if known is not None and known.size == entry.size and known.mtime == entry.mtime:
            report.unchanged += 1
            continue
        try:
            name_bytes(entry.id)
            digest = file_sha256(entry.path)
        except (OSError, ValueError) as exc:
            report.failed[entry.path] = f"cannot read: {getattr(exc, 'strerror', None) or exc}"
            continue
        if known is not None and known.sha256 == digest:
            # Touched but identical: refresh size/mtime without re-encoding.
            backend.update_metadata([entry.id], [_metadata(entry, digest)])
            report.unchanged += 1
            changed = True
            continue
        todo.append((entry, digest, known is not None))

    if backend is not None:
        gone = [key for key in stored if key not in on_disk]
        if gone:
            backend.remove(gone)
            report.removed = len(gone)
            changed = True

    since_commit = 0
    bar = progress_bar(len(todo), "encoding", enabled=progress)
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            vectors, batch_failed, ok_paths = _encode_batch(encode, [entry.path for entry, _, _ in batch])
            if len(ok_paths):
                finite = np.isfinite(vectors).all(axis=1)
                if metric == "cosine_similarity":
                    finite &= np.abs(vectors).max(axis=1) > 0
                for path in np.asarray(ok_paths, dtype=object)[~finite]:
                    batch_failed[path] = "the encoder returned a non-finite or zero vector"
                vectors = vectors[finite]
            report.failed.update(batch_failed)
            ok = [item for item in batch if item[0].path not in batch_failed]
            stale = [entry.id for entry, _, is_update in batch if is_update and entry.path in batch_failed]
            if backend is None and ok:
                backend = create_index(uri, int(vectors.shape[1]), metric, dict(provenance), overwrite=rebuild,
                                       index_type=index_type or None, **options, **dict(create_options or {}))
            if stale and backend is not None:
                backend.remove([key for key in stale if key in backend])
                report.removed += len(stale)
            if ok:
                backend.upsert([entry.id for entry, _, _ in ok], vectors, [_metadata(e, d) for e, d, _ in ok])
                report.encoded += len(ok)
                report.added += sum(1 for *_, is_update in ok if not is_update)
                report.updated += sum(1 for *_, is_update in ok if is_update)
            since_commit += len(batch)
            bar.update(len(batch))
            changed = changed or bool(ok or stale)
            if since_commit >= checkpoint_every and backend is not None and changed:
                backend.commit(checkpoint=True)
                since_commit = 0
    finally:
        bar.close()
    if backend is not None:
        if changed or backend.deferred_work:
            backend.commit()
        report.count = len(backend)
        if not isinstance(index, IndexBackend):
            backend.close()
    return report
