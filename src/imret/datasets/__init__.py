"""Datasets (registered in ``imret.registry.DATASETS``) and their transforms."""
from . import transforms
from .base_dataset import BaseDataset
from .custom import CustomDataset
from .gallery_truth import labels_to_gallery_indices
from .image_files import IMG_EXTENSIONS
from .inshop import InShop
from .query_gallery import QueryGalleryDataset
from .query_gallery_file import read_query_gallery_file

__all__ = [
    "transforms", "BaseDataset", "CustomDataset", "InShop", "QueryGalleryDataset", "labels_to_gallery_indices",
    "read_query_gallery_file", "IMG_EXTENSIONS",
]
