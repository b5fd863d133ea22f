"""Showing file names that may not be valid UTF-8."""
from __future__ import annotations

import os
from typing import Union


def display_name(path: Union[str, bytes, os.PathLike]) -> str:
    """``path`` as printable text: bytes that are not valid UTF-8 appear as ``\\xNN`` escapes.

    Names found on disk are ``str`` with lone surrogates standing for such bytes (``os.fsdecode``);
    they open correctly but cannot be printed or JSON-encoded as they are. This shows them losslessly
    readable: ``b'caf\\xe9.jpg'`` is shown as ``caf\\xe9.jpg``.
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")
