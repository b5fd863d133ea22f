"""Reading a local index back completely: every checksum, id, vector and metadata row (``imret verify``)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from . import storage
from .errors import IndexFormatError
from .faiss_backend import read_faiss_index
from .metadata_db import stored_ids
from .vector_file import read_vectors

CHUNK_ROWS = 65536
NORM_TOLERANCE = {"float32": 1e-3, "float16": 1e-2}


@dataclass
class VerifyReport:
    """``problems``: one line per defect, naming the file; ``notes``: things that are not defects."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _vector_problems(path: str, vectors: np.ndarray, ids: list[str], metric: str, dtype: str) -> list[str]:
    problems = []
    for start in range(0, vectors.shape[0], CHUNK_ROWS):
        block = np.asarray(vectors[start:start + CHUNK_ROWS], dtype=np.float64)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = start + int(np.argmin(finite))
            problems.append(f"{path}: the vector of id {ids[row]!r} (row {row}) is not finite")
            break
        if metric == "cosine_similarity":
            norms = np.linalg.norm(block, axis=1)
            off = np.abs(norms - 1.0) > NORM_TOLERANCE[dtype]
            if off.any():
                row = start + int(np.argmax(off))
                problems.append(f"{path}: the vector of id {ids[row]!r} (row {row}) has length "
                                f"{norms[row - start]:.6g}; a cosine index stores unit vectors")
                break
    return problems


def verify_index(root: str) -> VerifyReport:
    """Check the live version of the local index at ``root`` completely; changes nothing."""
    report = VerifyReport()
    root = os.fspath(root)
    try:
        version = storage.current_version(root)
        manifest = storage.read_manifest(version)
    except (FileNotFoundError, IndexFormatError) as error:
        report.problems.append(str(error))
        return report
    leftovers = sorted(n for n in os.listdir(root) if n.startswith(".") and n != ".")
    for name in leftovers:
        report.notes.append(f"{os.path.join(root, name)}: left by an interrupted save; the next `imret index` "
                            "removes it")
    checksums = manifest.get("checksums")
    if checksums is None:
        report.notes.append(f"{os.path.join(version, storage.MANIFEST)}: no checksums recorded (written by an "
                            "older imret); the next save records them")
    else:
        for name in storage.CHECKSUMMED:
            try:
                storage.check_files_one(version, name, checksums.get(name), full=True)
            except IndexFormatError as error:
                report.problems.append(str(error))
    count, dim, dtype, metric = manifest["count"], manifest["dim"], manifest["dtype"], manifest["metric"]
    try:
        ids = storage.read_ids(version, count)
    except IndexFormatError as error:
        report.problems.append(str(error))
        ids = [f"row {i}" for i in range(count)]
    vectors_file = os.path.join(version, storage.VECTORS)
    try:
        vectors = read_vectors(vectors_file, dtype, (count, dim), mmap=True)
        report.problems.extend(_vector_problems(vectors_file, vectors, ids, metric, dtype))
    except IndexFormatError as error:
        report.problems.append(str(error))
    metadata_file = os.path.join(version, storage.METADATA)
    try:
        in_db = stored_ids(metadata_file) if os.path.isfile(metadata_file) else None
        if in_db is None:
            report.problems.append(f"{metadata_file}: metadata database is missing")
        elif len(in_db) != count or set(in_db) != set(ids):
            missing = sorted(set(ids) - set(in_db))[:1] or sorted(set(in_db) - set(ids))[:1]
            report.problems.append(f"{metadata_file}: {len(in_db)} rows whose ids differ from {storage.IDS}'s "
                                   f"{count} (e.g. {missing[0]!r})" if missing else
                                   f"{metadata_file}: {len(in_db)} rows for {count} ids")
    except IndexFormatError as error:
        report.problems.append(str(error))
    faiss_file = os.path.join(version, storage.FAISS)
    if os.path.isfile(faiss_file):
        try:
            index = read_faiss_index(faiss_file)
            if index.d != dim or (index.ntotal != count and not manifest.get("faiss_stale")):
                report.problems.append(f"{faiss_file}: holds {index.ntotal} vectors of dim {index.d}, the index "
                                       f"has {count} of dim {dim}")
        except RuntimeError as error:
            report.problems.append(f"{faiss_file}: unreadable faiss index ({str(error).splitlines()[-1]})")
    return report
