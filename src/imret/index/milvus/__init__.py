"""The Milvus back end (``milvus://`` servers and clusters, ``milvus-lite:`` embedded files)."""
from .backend import MilvusBackend, MilvusLiteBackend, MilvusUnavailableError
from .uri import MilvusTarget, MilvusURIError, parse_milvus_uri

__all__ = ["MilvusBackend", "MilvusLiteBackend", "MilvusUnavailableError", "MilvusTarget", "MilvusURIError",
           "parse_milvus_uri"]
