"""Milvus index URIs: where the collection lives and how to log in, kept apart from what is printed.

``milvus://[USER:PASSWORD@]HOST:PORT/COLLECTION[?db=NAME&secure=1]`` names a collection on a Milvus
server or cluster; without credentials in the URI, ``IMRET_MILVUS_TOKEN`` or ``IMRET_MILVUS_USER`` /
``IMRET_MILVUS_PASSWORD`` are used when set. ``milvus-lite:PATH.db[#COLLECTION]`` names a collection
in an embedded Milvus Lite database file (default collection ``imret_gallery``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import parse_qs, unquote, urlsplit

SERVER_SCHEME = "milvus"
LITE_SCHEME = "milvus-lite"
DEFAULT_COLLECTION = "imret_gallery"
DEFAULT_PORT = 19530
ENV_TOKEN = "IMRET_MILVUS_TOKEN"
ENV_USER = "IMRET_MILVUS_USER"
ENV_PASSWORD = "IMRET_MILVUS_PASSWORD"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_QUERY_KEYS = {"db", "secure"}


class MilvusURIError(ValueError):
    """A Milvus index URI that cannot be understood; the message shows the expected form."""


@dataclass(frozen=True)
class MilvusTarget:
    """A parsed Milvus URI: ``uri`` is printable (no credentials); ``connect`` holds the client arguments."""

    uri: str
    collection: str
    lite_path: Optional[str] = None
    connect: Mapping[str, object] = field(default_factory=dict, repr=False)

    @property
    def is_lite(self) -> bool:
        return self.lite_path is not None


def _collection(name: str, uri_text: str) -> str:
    if not _NAME.fullmatch(name):
        raise MilvusURIError(f"{uri_text}: collection name {name!r} is not valid (letters, digits and _, "
                             "starting with a letter or _)")
    return name


def _parse_lite(text: str) -> MilvusTarget:
    rest = text[len(LITE_SCHEME) + 1:]
    path, _, name = rest.partition("#")
    if not path or not path.endswith(".db"):
        raise MilvusURIError(f"{text}: expected milvus-lite:PATH.db[#COLLECTION] (the file name must end in .db)")
    path = os.path.abspath(os.path.expanduser(path))
    collection = _collection(name or DEFAULT_COLLECTION, text)
    return MilvusTarget(uri=f"{LITE_SCHEME}:{path}#{collection}", collection=collection, lite_path=path)


def _credentials(user: Optional[str], password: Optional[str], env: Mapping[str, str]) -> dict:
    if user is not None:
        return {"user": unquote(user), "password": unquote(password or "")}
    if env.get(ENV_TOKEN):
        return {"token": env[ENV_TOKEN]}
    if env.get(ENV_USER):
        return {"user": env[ENV_USER], "password": env.get(ENV_PASSWORD, "")}
    return {}


def _parse_server(text: str, env: Mapping[str, str]) -> MilvusTarget:
    form = "milvus://[USER:PASSWORD@]HOST:PORT/COLLECTION[?db=NAME&secure=1]"
    parts = urlsplit(text)
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise MilvusURIError(f"milvus://{parts.hostname or ''}...: bad port ({exc}); expected {form}") from None
    safe_head = f"milvus://{host}:{port}" if host else "milvus://"
    if not host:
        raise MilvusURIError(f"{safe_head}: no host; expected {form}")
    name = parts.path.strip("/")
    if not name or "/" in name:
        raise MilvusURIError(f"{safe_head}/{name}: expected one collection name after the host; expected {form}")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - _QUERY_KEYS)
    if unknown:
        raise MilvusURIError(f"{safe_head}/{name}: unknown option(s) {', '.join(unknown)}; known: db, secure")
    secure = query.get("secure", ["0"])[-1].lower() in ("1", "true", "yes")
    db = query.get("db", [""])[-1]
    collection = _collection(name, f"{safe_head}/{name}")
    connect: dict = {"uri": f"{'https' if secure else 'http'}://{host}:{port}"}
    if db:
        connect["db_name"] = _collection(db, f"{safe_head}/{name}?db={db}")
    connect.update(_credentials(parts.username, parts.password, env))
    printable = f"milvus://{host}:{port}/{collection}" + (f"?db={db}" if db else "") + ("&secure=1" if secure and db
                                                                                     else "?secure=1" if secure else "")
    return MilvusTarget(uri=printable, collection=collection, connect=connect)


def parse_milvus_uri(text: str, env: Optional[Mapping[str, str]] = None) -> MilvusTarget:
    """The target named by a ``milvus://`` or ``milvus-lite:`` URI (credentials from ``env``, default os.environ)."""
    text = str(text)
    if text.startswith(f"{LITE_SCHEME}:"):
        return _parse_lite(text)
    if text.startswith(f"{SERVER_SCHEME}://"):
        return _parse_server(text, os.environ if env is None else env)
    raise MilvusURIError(f"not a Milvus URI: expected milvus://HOST:PORT/COLLECTION or milvus-lite:PATH.db")
