from .hashing import file_sha256

__all__ = ["file_sha256"]
