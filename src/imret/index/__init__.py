from .backend import (Fingerprint, IndexBackend, SearchResult, backend_class, backend_schemes, register_backend,
                      scheme_of)
from .errors import IndexFormatError, ProvenanceMismatchError, UnknownIdError
from .factory import create_index, open_index, resolve_backend
from .faiss_backend import build_faiss_index, faiss_search, set_search_params
from .gallery import BACKENDS, GalleryIndex
from .scan import IMAGE_EXTENSIONS, scan_folder
from ..utils.provenance import provenance_differences
from .sync import SyncReport, sync_folder

__all__ = [
    "Fingerprint", "IndexBackend", "SearchResult", "backend_class", "backend_schemes", "register_backend",
    "scheme_of", "IndexFormatError", "ProvenanceMismatchError", "UnknownIdError", "create_index", "open_index",
    "resolve_backend", "build_faiss_index", "faiss_search", "set_search_params", "BACKENDS", "GalleryIndex",
    "IMAGE_EXTENSIONS", "scan_folder", "SyncReport", "provenance_differences", "sync_folder",
]
