"""Index types for Milvus: Milvus names with parameters, or the FAISS-style strings ``imret index`` takes.

``HNSW:M=32,efConstruction=200,ef=64`` builds HNSW with M and efConstruction and searches with ef
(``ef`` and ``nprobe`` are search parameters, the rest build parameters). FAISS-style strings map
to the same Milvus index: ``Flat`` -> FLAT, ``HNSW32`` -> HNSW M=32, ``IVF1024,Flat`` -> IVF_FLAT
nlist=1024, ``IVF1024,PQ32`` -> IVF_PQ nlist=1024 m=32, ``IVF1024,SQ8`` -> IVF_SQ8 nlist=1024.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

SEARCH_KEYS = ("ef", "nprobe")


@dataclass(frozen=True)
class IndexSpec:
    """A Milvus index type with its build and (default) search parameters."""

    index_type: str = "FLAT"
    build: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_index_spec(text: Optional[str]) -> IndexSpec:
    """The :class:`IndexSpec` of ``text`` (None: FLAT); an unknown form raises ``ValueError``."""
    if text is None or not str(text).strip():
        return IndexSpec()
    text = str(text).strip()
    faiss_like = [(r"flat", lambda m: ("FLAT", {})),
                  (r"hnsw(\d+)", lambda m: ("HNSW", {"M": int(m[1])})),
                  (r"ivf(\d+),flat", lambda m: ("IVF_FLAT", {"nlist": int(m[1])})),
                  (r"ivf(\d+),pq(\d+)", lambda m: ("IVF_PQ", {"nlist": int(m[1]), "m": int(m[2])})),
                  (r"ivf(\d+),sq8", lambda m: ("IVF_SQ8", {"nlist": int(m[1])}))]
    for pattern, make in faiss_like:
        match = re.fullmatch(pattern, text, flags=re.IGNORECASE)
        if match:
            name, build = make(match)
            return IndexSpec(name, build, {})
    name, _, params = text.partition(":")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"index type {text!r}: expected a Milvus index type such as FLAT, HNSW:M=16,ef=64, "
                         "IVF_FLAT:nlist=1024,nprobe=16, or a FAISS-style string such as HNSW32")
    build, search = {}, {}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ValueError(f"index type {text!r}: parameter {item!r} is not KEY=VALUE")
        (search if key in SEARCH_KEYS else build)[key] = _number(value)
    return IndexSpec(name.upper(), build, search)
