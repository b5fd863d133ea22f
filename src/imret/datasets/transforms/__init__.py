"""Data pipeline transforms with mmpretrain/mmcv names and arguments (registered in ``TRANSFORMS``).

Names are imported on first use: an encoder's test pipeline uses the array transforms without
loading mmengine or torch; :mod:`.registration` (the registry's import location) registers them all.
"""
from imret.utils.lazy_exports import lazy_exports

_EXPORTS = {
    "BaseTransform": "base", "CenterCrop": "center_crop", "Compose": "compose", "link_resize_plan": "decode_plan",
    "ImageNotFoundError": "decoding", "UnreadableImageError": "decoding", "image_to_rgb": "decoding",
    "read_image": "decoding", "RandomFlip": "flip", "flip_image": "flip", "PackInputs": "formatting",
    "image_to_tensor": "formatting", "LoadImageFromFile": "loading", "SkippedImageWarning": "loading",
    "pad_image": "padding", "RandomCrop": "random_crop", "RandomResizedCrop": "random_resized_crop",
    "Resize": "resize", "ResizeEdge": "resize_edge", "resize_image": "resizing",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
