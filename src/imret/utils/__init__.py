from .hashing import file_sha256
from .provenance import ENCODING_VERSION, RECORD_ONLY_KEYS, provenance_differences

__all__ = ["file_sha256", "ENCODING_VERSION", "RECORD_ONLY_KEYS", "provenance_differences"]
