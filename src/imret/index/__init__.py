from .errors import IndexFormatError, ProvenanceMismatchError, UnknownIdError
from .faiss_backend import build_faiss_index, faiss_search, set_search_params
from .gallery import BACKENDS, GalleryIndex, SearchResult
from .scan import IMAGE_EXTENSIONS, scan_folder
from ..utils.provenance import provenance_differences
from .sync import SyncReport, sync_folder

__all__ = [
    "IndexFormatError", "ProvenanceMismatchError", "UnknownIdError", "build_faiss_index", "faiss_search",
    "set_search_params", "BACKENDS", "GalleryIndex", "SearchResult", "IMAGE_EXTENSIONS", "scan_folder",
    "SyncReport", "provenance_differences", "sync_folder",
]
