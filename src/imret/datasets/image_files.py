"""Finding image files in folders, in a deterministic order."""
from __future__ import annotations

import os
import warnings

from imret.io import display_name, normalize_extensions, walk_images

__all__ = ["IMG_EXTENSIONS", "list_class_folders", "list_images", "no_images_error", "normalize_extensions",
           "require_file", "require_folder", "scan_labelled_folder"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def list_images(folder: str, extensions: tuple[str, ...]) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted '/'-separated paths relative to it.

    The walk is ``imret.io.walk_images``: regular files only, hidden names left out; each skipped
    entry (a FIFO, socket, device, unreadable folder) is warned about with the reason.
    """
    scan = walk_images(folder, extensions)
    for path, reason in scan.skipped.items():
        warnings.warn(f"dataset: skipped {display_name(path)}: {reason}", stacklevel=2)
    return [entry.id for entry in scan.entries]


def list_class_folders(folder: str) -> list[str]:
    """Names of the immediate subfolders of ``folder``, sorted (hidden ones skipped)."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_dir() and not entry.name.startswith("."))


def require_folder(folder: str, what: str) -> None:
    """``FileNotFoundError`` naming ``folder`` when it is not a directory."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what} {folder!r} is not a folder (check data_root / data_prefix)")


def require_file(path: str, what: str, hint: str = "") -> None:
    """``FileNotFoundError`` naming ``path`` when it is not a file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} not found{'; ' + hint if hint else ''}")


def no_images_error(folder: str, extensions: tuple[str, ...]) -> ValueError:
    """The error for a folder without any image of the accepted extensions."""
    return ValueError(f"no images found in {folder!r} with extensions {', '.join(extensions)}; "
                      "put images there or pass extensions=(...) listing yours")


def scan_labelled_folder(folder: str, extensions: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """Class names (sorted subfolders) and ``(relative path, class name)`` pairs, sorted by class then path."""
    require_folder(folder, "image folder")
    classes = list_class_folders(folder)
    if not classes:
        raise ValueError(f"{folder!r} has no class subfolders; use with_label=False for a flat folder of images, "
                         "or put each class's images in a subfolder named after it")
    samples = []
    for name in classes:
        samples.extend((f"{name}/{path}", name) for path in list_images(os.path.join(folder, name), extensions))
    if not samples:
        raise no_images_error(folder, extensions)
    return classes, samples
