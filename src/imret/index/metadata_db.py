"""Per-id metadata in SQLite: path, label, size, mtime, sha256 and free-form extras."""
from __future__ import annotations

import json
import sqlite3
from typing import Iterable, Mapping, Optional

from .backend import Fingerprint
from .errors import IndexFormatError

COLUMNS = ("path", "label", "size", "mtime", "sha256")
SCHEMA = ("CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, path TEXT, label TEXT, size INTEGER, "
          "mtime REAL, sha256 TEXT, extra TEXT)")
QUERY_CHUNK = 500


def _row_to_dict(row: tuple) -> dict:
    item = {"id": row[0]}
    for name, value in zip(COLUMNS, row[1:6]):
        if value is not None:
            item[name] = value
    if row[6]:
        item.update(json.loads(row[6]))
    return item


def connect_readonly(path: str) -> sqlite3.Connection:
    """Open ``path`` read-only, failing clearly when it is not an imret metadata database."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT id, path, label, size, mtime, sha256, extra FROM items LIMIT 1").fetchall()
        return conn
    except sqlite3.Error as exc:
        raise IndexFormatError(f"{path}: unreadable metadata database ({exc})") from None


def count_rows(path: str) -> int:
    conn = connect_readonly(path)
    try:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]
    finally:
        conn.close()


def iter_fingerprints(path: str) -> dict[str, Fingerprint]:
    """Every stored id with its size, mtime and sha256, in one scan of the database."""
    conn = connect_readonly(path)
    try:
        return {row[0]: Fingerprint(row[1], row[2], row[3])
                for row in conn.execute("SELECT id, size, mtime, sha256 FROM items")}
    finally:
        conn.close()


def read_metadata(path: Optional[str], ids: Iterable[str]) -> dict[str, dict]:
    """Metadata dicts for those of ``ids`` present in the database at ``path``."""
    ids = list(dict.fromkeys(ids))
    if path is None or not ids:
        return {}
    conn = connect_readonly(path)
    try:
        found = {}
        for start in range(0, len(ids), QUERY_CHUNK):
            chunk = ids[start:start + QUERY_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT id, path, label, size, mtime, sha256, extra FROM items "
                                    f"WHERE id IN ({marks})", chunk):
                found[row[0]] = _row_to_dict(row)
        return found
    finally:
        conn.close()


def write_metadata(path: str, changes: Mapping[str, Optional[Mapping]]) -> None:
    """Apply ``changes`` (id -> metadata dict, or None to delete) to the database at ``path``."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(SCHEMA)
        deletes = [(key,) for key, meta in changes.items() if meta is None]
        rows = []
        for key, meta in changes.items():
            if meta is None:
                continue
            extra = {k: v for k, v in meta.items() if k not in COLUMNS and k != "id"}
            rows.append((key, *(meta.get(c) for c in COLUMNS), json.dumps(extra) if extra else None))
        conn.executemany("DELETE FROM items WHERE id = ?", deletes)
        conn.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    finally:
        conn.close()
