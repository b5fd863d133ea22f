"""High-level use: the model zoo, image encoding, the retrieval inferencer, match grids, index search."""
from .encode import EncodeResult, encode_images, make_encoder
from .files import IMAGE_EXTENSIONS, list_image_files
from .inferencer import ImageRetrievalInferencer
from .match_grid import draw_match_grid, grid_size, write_match_grid
from .pipeline import ImageTransform
from .provenance import build_provenance, file_sha256
from .searcher import IndexSearcher, Match, SearchInputError
from .zoo import DEFAULT_MODEL, get_model, list_models

__all__ = [
    "DEFAULT_MODEL", "EncodeResult", "IMAGE_EXTENSIONS", "ImageRetrievalInferencer", "ImageTransform",
    "IndexSearcher", "Match", "SearchInputError", "build_provenance", "draw_match_grid", "encode_images",
    "file_sha256", "get_model", "grid_size", "list_image_files", "list_models", "make_encoder", "write_match_grid",
]
