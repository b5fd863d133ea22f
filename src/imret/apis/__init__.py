"""High-level use: the model zoo, image encoding, the retrieval inferencer, match grids, index search.

Names are imported on first use, so importing ``imret.apis`` (or using an export bundle) does not
load torch.
"""
from imret.utils.lazy_exports import lazy_exports

_EXPORTS = {
    "EncodeResult": "encode", "encode_images": "encode", "make_encoder": "encode",
    "IMAGE_EXTENSIONS": "files", "list_image_files": "files",
    "ImageRetrievalInferencer": "inferencer",
    "draw_match_grid": "match_grid", "grid_size": "match_grid", "write_match_grid": "match_grid",
    "ImageTransform": "pipeline",
    "Preprocessing": "preprocessing",
    "build_provenance": "provenance", "file_sha256": "provenance",
    "RetrievalModel": "retrieval_model",
    "IndexSearcher": "searcher", "Match": "searcher", "SearchInputError": "searcher",
    "DEFAULT_MODEL": "zoo", "get_model": "zoo", "list_models": "zoo",
    "export_bundle": "bundle_model",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
