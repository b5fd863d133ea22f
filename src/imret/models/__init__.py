"""Models: retrievers and the pieces they are built from. Importing registers every type name."""
from . import backbones, heads, losses, necks, preprocessors, retrievers  # noqa: F401
from .retrievers import BaseRetriever, ImageToImageRetriever

__all__ = ["BaseRetriever", "ImageToImageRetriever"]
