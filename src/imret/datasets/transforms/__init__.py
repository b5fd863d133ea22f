"""Data pipeline transforms with mmpretrain/mmcv names and arguments (registered in ``TRANSFORMS``)."""
from .base import BaseTransform
from .center_crop import CenterCrop
from .compose import Compose
from .decode_plan import link_resize_plan
from .decoding import ImageNotFoundError, UnreadableImageError, image_to_rgb, read_image
from .flip import RandomFlip, flip_image
from .formatting import PackInputs, image_to_tensor
from .loading import LoadImageFromFile, SkippedImageWarning
from .padding import pad_image
from .random_crop import RandomCrop
from .random_resized_crop import RandomResizedCrop
from .resize import Resize
from .resize_edge import ResizeEdge
from .resizing import resize_image

__all__ = [
    "BaseTransform", "CenterCrop", "Compose", "link_resize_plan", "ImageNotFoundError", "UnreadableImageError", "image_to_rgb",
    "read_image", "RandomFlip", "flip_image", "PackInputs", "image_to_tensor", "LoadImageFromFile",
    "SkippedImageWarning", "pad_image", "RandomCrop", "RandomResizedCrop", "Resize", "ResizeEdge",
    "resize_image",
]
