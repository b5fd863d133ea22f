"""Finding image files in folders, in a deterministic order."""
from __future__ import annotations

import os
from typing import Iterable

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def normalize_extensions(extensions: Iterable[str] | str) -> tuple[str, ...]:
    """Lower-case extensions with a leading dot (``'JPG'`` -> ``'.jpg'``)."""
    if isinstance(extensions, str):
        extensions = (extensions,)
    result = tuple(ext.lower() if ext.startswith(".") else "." + ext.lower() for ext in extensions)
    if not result:
        raise ValueError("extensions must name at least one file extension, e.g. ('.jpg', '.png')")
    return result


def list_images(folder: str, extensions: tuple[str, ...]) -> list[str]:
    """Image files under ``folder`` (recursively), as sorted '/'-separated paths relative to it."""
    found = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        relative = os.path.relpath(current, folder)
        for name in files:
            if name.lower().endswith(extensions) and not name.startswith("."):
                path = name if relative == "." else os.path.join(relative, name)
                found.append(path.replace(os.sep, "/"))
    return sorted(found)


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
