"""Opening images and walking folders: regular files only, within resource limits, any file name."""
from .convert import image_to_bgr, image_to_rgb, rgb_to_grey
from .decode import DRAFT_BOX_KEY, ORIGINAL_SIZE_KEY, REFUSED_FORMATS, decode_bgr, open_image
from .errors import ImageDecodeError, ImageNotFoundError, ImageTooLargeError, NotRegularFileError
from .limits import (DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE_AFTER_RESIZE, ENV_JPEG_DRAFT, ENV_MAX_PIXELS,
                     ENV_MAX_SIDE_AFTER_RESIZE, check_pixels, check_resize, draft_enabled, max_pixels,
                     max_side_after_resize)
from .names import display_name
from .regular import file_kind, open_regular, read_regular
from .walk import IMAGE_EXTENSIONS, FileEntry, FolderScan, normalize_extensions, walk_images

__all__ = [
    "image_to_bgr", "image_to_rgb", "rgb_to_grey", "DRAFT_BOX_KEY", "ORIGINAL_SIZE_KEY", "REFUSED_FORMATS", "decode_bgr", "open_image",
    "ImageDecodeError", "ImageNotFoundError", "ImageTooLargeError", "NotRegularFileError", "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE_AFTER_RESIZE", "ENV_JPEG_DRAFT", "ENV_MAX_PIXELS", "ENV_MAX_SIDE_AFTER_RESIZE",
    "check_pixels", "check_resize", "draft_enabled", "max_pixels", "max_side_after_resize", "display_name",
    "file_kind", "open_regular", "read_regular", "IMAGE_EXTENSIONS", "FileEntry", "FolderScan",
    "normalize_extensions", "walk_images",
]
