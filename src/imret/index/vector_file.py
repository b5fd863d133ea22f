"""The vectors file: a safetensors file with one 2-D tensor ``vectors``, readable as a memory map."""
from __future__ import annotations

import hashlib
import json
import os
import struct
from typing import Mapping, Optional

import numpy as np

from .errors import IndexFormatError

TENSOR_NAME = "vectors"
DTYPES = {"float32": ("F32", np.float32), "float16": ("F16", np.float16)}
WRITE_CHUNK_ROWS = 65536


def write_vectors(path: str, vectors: np.ndarray, dtype: str, metadata: Optional[Mapping[str, str]] = None) -> str:
    """Write ``vectors`` as ``dtype`` in safetensors layout, streaming row chunks, and fsync; returns its SHA-256."""
    code, np_dtype = DTYPES[dtype]
    rows, dim = vectors.shape
    nbytes = rows * dim * np.dtype(np_dtype).itemsize
    header = {TENSOR_NAME: {"dtype": code, "shape": [rows, dim], "data_offsets": [0, nbytes]}}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    digest = hashlib.sha256()
    with open(path, "wb") as fh:
        for part in (struct.pack("<Q", len(text)), text):
            fh.write(part)
            digest.update(part)
        for start in range(0, rows, WRITE_CHUNK_ROWS):
            chunk = np.ascontiguousarray(vectors[start:start + WRITE_CHUNK_ROWS], dtype=np_dtype).tobytes()
            fh.write(chunk)
            digest.update(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def read_vectors(path: str, dtype: str, shape: tuple[int, int], mmap: bool = True) -> np.ndarray:
    """Read the vectors of ``path``, checking dtype and shape; a read-only memory map when ``mmap``."""
    code, np_dtype = DTYPES[dtype]
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            (header_len,) = struct.unpack("<Q", fh.read(8))
            if header_len > min(size - 8, 2**24):
                raise ValueError("header length out of range")
            header = json.loads(fh.read(header_len))
        entry = header[TENSOR_NAME]
        begin, end = entry["data_offsets"]
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: vectors file is missing") from None
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise IndexFormatError(f"{path}: not a valid safetensors vectors file ({exc})") from None
    if entry.get("dtype") != code or tuple(entry.get("shape", ())) != tuple(shape):
        raise IndexFormatError(f"{path}: holds {entry.get('dtype')} {entry.get('shape')}, the manifest says "
                               f"{code} {list(shape)}")
    expected = shape[0] * shape[1] * np.dtype(np_dtype).itemsize
    offset = 8 + header_len + begin
    if end - begin != expected or offset + expected > size:
        raise IndexFormatError(f"{path}: truncated or inconsistent data ({size} bytes on disk)")
    if expected == 0:
        return np.empty(shape, dtype=np_dtype)
    if mmap:
        return np.memmap(path, dtype=np_dtype, mode="r", offset=offset, shape=shape)
    with open(path, "rb") as fh:
        fh.seek(offset)
        return np.frombuffer(fh.read(expected), dtype=np_dtype).reshape(shape).copy()
