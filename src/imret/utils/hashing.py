"""Content hashes of files."""
from __future__ import annotations

import hashlib
import os

CHUNK_BYTES = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a regular file's bytes (a FIFO or device raises ``imret.io.NotRegularFileError``)."""
    from imret.io.regular import open_regular

    digest = hashlib.sha256()
    with open_regular(path) as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
