"""The errors of ``imret.io``: one class for every image imret refuses or cannot read."""
from __future__ import annotations

from typing import Optional

from .names import display_name


class ImageDecodeError(OSError, ValueError):
    """An image that cannot be read, decoded or is refused by a limit.

    The message starts with the file's name (escaped by ``display_name``) and says why;
    ``path`` is the name as given (``None`` for bytes without a name) and ``reason`` the why alone.
    Being an ``OSError`` and a ``ValueError``, it is caught by code that expects either.
    """

    def __init__(self, source: Optional[str], reason: str) -> None:
        self.path = source
        self.reason = reason
        super().__init__(f"{display_name(source) if source is not None else '<image bytes>'}: "
                         f"not a readable image ({reason})")

    def __reduce__(self):  # picklable across worker processes despite the custom __init__
        return type(self), (self.path, self.reason)


class ImageNotFoundError(ImageDecodeError, FileNotFoundError):
    """The image file does not exist."""


class NotRegularFileError(ImageDecodeError):
    """The path is a FIFO, socket, device or directory: imret opens regular files only."""


class ImageTooLargeError(ImageDecodeError):
    """The image is refused by a limit: too many pixels to decode, or too large once resized."""
