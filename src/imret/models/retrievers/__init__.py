from .base import BaseRetriever
from .image2image import ImageToImageRetriever

__all__ = ["BaseRetriever", "ImageToImageRetriever"]
