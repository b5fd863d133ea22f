"""Ids and paths that are not valid UTF-8, stored without loss.

In memory a file name is a ``str``; bytes of a name that are not UTF-8 are the surrogate escapes
``'\\udc80'``-``'\\udcff'`` (``os.fsdecode`` on POSIX, PEP 383). Storage keeps every name exactly:

* ``ids.json``: a UTF-8 name is a JSON string (as always); any other name is ``{"b64": "<base64 of its bytes>"}``.
* SQLite: a UTF-8 name is TEXT; any other name is a BLOB of its bytes.
* JSON output (``imret search --json``): :func:`name_fields` gives a printable string plus, only for a
  non-UTF-8 name, ``<key>_b64`` with the exact bytes in base64.
"""
from __future__ import annotations

import base64
from typing import Any, Union

from ..io.names import display_name

B64_KEY = "b64"


def name_bytes(name: str) -> bytes:
    """The file-system bytes of ``name``; a surrogate that is no escaped byte raises ``ValueError``."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(f"name {name!r} holds a character that is neither text nor an escaped byte") from None


def name_from_bytes(data: bytes) -> str:
    """The in-memory ``str`` of file-system bytes (undecodable bytes as surrogate escapes)."""
    return data.decode("utf-8", "surrogateescape")


def is_text(name: str) -> bool:
    """Whether ``name`` is valid Unicode text (encodable as strict UTF-8)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def to_json_name(name: str) -> Union[str, dict]:
    """``name`` as stored in ``ids.json``."""
    return name if is_text(name) else {B64_KEY: base64.b64encode(name_bytes(name)).decode("ascii")}


def from_json_name(value: Any) -> str:
    """Inverse of :func:`to_json_name`; anything else raises ``ValueError``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {B64_KEY} and isinstance(value[B64_KEY], str):
        try:
            return name_from_bytes(base64.b64decode(value[B64_KEY], validate=True))
        except ValueError:
            pass
    raise ValueError(f"not an id: {value!r}")


def to_sql_name(name: Any) -> Any:
    """A value for a TEXT column: ``name`` itself, or its bytes (BLOB) when it is not valid UTF-8."""
    return name if not isinstance(name, str) or is_text(name) else name_bytes(name)


def from_sql_name(value: Any) -> Any:
    """Inverse of :func:`to_sql_name`."""
    return name_from_bytes(value) if isinstance(value, bytes) else value


def name_fields(key: str, name: str) -> dict:
    """``{key: printable name}`` plus ``{key + '_b64': exact bytes}`` when ``name`` is not valid UTF-8."""
    if is_text(name):
        return {key: name}
    return {key: display_name(name), f"{key}_{B64_KEY}": base64.b64encode(name_bytes(name)).decode("ascii")}
