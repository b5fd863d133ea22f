"""Per-id metadata in SQLite: path, label, size, mtime, sha256 and free-form extras.

Ids, paths and labels that are not valid UTF-8 are stored as BLOBs of their bytes (see :mod:`.names`).
"""
from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Optional

from .backend import Fingerprint
from .errors import IndexFormatError
from .names import from_sql_name, to_sql_name

COLUMNS = ("path", "label", "size", "mtime", "sha256")
NAME_COLUMNS = ("path", "label")
SCHEMA = ("CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, path TEXT, label TEXT, size INTEGER, "
          "mtime REAL, sha256 TEXT, extra TEXT)")
QUERY_CHUNK = 500


def _row_to_dict(row: tuple) -> dict:
    item = {"id": from_sql_name(row[0])}
    for name, value in zip(COLUMNS, row[1:6]):
        if value is not None:
            item[name] = from_sql_name(value) if name in NAME_COLUMNS else value
    if row[6]:
        item.update(json.loads(row[6]))
    return item


def connect_readonly(path: str) -> sqlite3.Connection:
    """Open ``path`` read-only, failing clearly when it is not an imret metadata database."""
    try:
        uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"  # percent-encoded: any file name works
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("SELECT id, path, label, size, mtime, sha256, extra FROM items LIMIT 1").fetchall()
        return conn
    except sqlite3.Error as exc:
        raise IndexFormatError(f"{path}: unreadable metadata database ({exc})") from None


@contextmanager
def _reading(path: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection; any SQLite error while reading is an ``IndexFormatError`` naming ``path``."""
    conn = connect_readonly(path)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise IndexFormatError(f"{path}: unreadable metadata database ({exc})") from None
    finally:
        conn.close()


def count_rows(path: str) -> int:
    with _reading(path) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


def stored_ids(path: str) -> list[str]:
    """Every id in the database."""
    with _reading(path) as conn:
        return [from_sql_name(row[0]) for row in conn.execute("SELECT id FROM items")]


def iter_fingerprints(path: str) -> dict[str, Fingerprint]:
    """Every stored id with its size, mtime and sha256, in one scan of the database."""
    with _reading(path) as conn:
        return {from_sql_name(row[0]): Fingerprint(row[1], row[2], row[3])
                for row in conn.execute("SELECT id, size, mtime, sha256 FROM items")}


def read_metadata(path: Optional[str], ids: Iterable[str]) -> dict[str, dict]:
    """Metadata dicts for those of ``ids`` present in the database at ``path``."""
    ids = list(dict.fromkeys(ids))
    if path is None or not ids:
        return {}
    with _reading(path) as conn:
        found = {}
        for start in range(0, len(ids), QUERY_CHUNK):
            chunk = [to_sql_name(key) for key in ids[start:start + QUERY_CHUNK]]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT id, path, label, size, mtime, sha256, extra FROM items "
                                    f"WHERE id IN ({marks})", chunk):
                item = _row_to_dict(row)
                found[item["id"]] = item
        return found


def write_metadata(path: str, changes: Mapping[str, Optional[Mapping]]) -> None:
    """Apply ``changes`` (id -> metadata dict, or None to delete) to the database at ``path``."""
    open(path, "ab").close()  # created by Python, so its mode follows the umask (SQLite's own default is 0644)
    conn = sqlite3.connect(path)
    try:
        conn.execute(SCHEMA)
        deletes = [(to_sql_name(key),) for key, meta in changes.items() if meta is None]
        rows = []
        for key, meta in changes.items():
            if meta is None:
                continue
            extra = {k: v for k, v in meta.items() if k not in COLUMNS and k != "id"}
            values = [to_sql_name(meta.get(c)) if c in NAME_COLUMNS else meta.get(c) for c in COLUMNS]
            rows.append((to_sql_name(key), *values, json.dumps(extra, allow_nan=False) if extra else None))
        conn.executemany("DELETE FROM items WHERE id = ?", deletes)
        conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    finally:
        conn.close()
