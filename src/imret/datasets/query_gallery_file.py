"""Reading a query/gallery list file (CSV or JSON) into ``(path, label, role)`` records.

CSV: a header row with columns ``path`` and ``label`` and optionally ``split``; other columns are
ignored::

    path,label,split
    shoes/a1.jpg,shoe_17,query
    shoes/a2.jpg,shoe_17,gallery
    misc/x.jpg,,gallery

JSON: either a list of objects with the same keys, or an object with a ``"query"`` and a
``"gallery"`` list of ``{"path": ..., "label": ...}`` objects::

    {"query": [{"path": "shoes/a1.jpg", "label": "shoe_17"}],
     "gallery": [{"path": "shoes/a2.jpg", "label": "shoe_17"}, {"path": "misc/x.jpg"}]}

``split`` (the role) is ``query``, ``gallery`` or ``both`` (default): a ``both`` image is a query
and a gallery item, and as a query it is never matched against itself. Labels are compared as
text; an empty or missing label marks a gallery distractor that matches no query.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Any, Optional

ROLES = ("query", "gallery", "both")
Record = tuple[str, Optional[str], str]


def _label_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _record(entry: Any, where: str, default_role: str) -> Record:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object with 'path' and 'label', got {type(entry).__name__}")
    path = str(entry.get("path") or "").strip()
    if not path:
        raise ValueError(f"{where}: missing 'path'")
    role = str(entry.get("split") or default_role).strip().lower()
    if role not in ROLES:
        raise ValueError(f"{where}: split {role!r} is not one of {', '.join(ROLES)}")
    return path, _label_text(entry.get("label")), role


def _read_csv(path: str) -> list[Record]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [name.strip().lower() for name in (reader.fieldnames or [])]
        missing = [name for name in ("path", "label") if name not in columns]
        if missing:
            raise ValueError(f"{path}: the header row must name the columns path and label (and optionally split); "
                             f"missing {', '.join(missing)}; found {reader.fieldnames}")
        records = []
        for line, row in enumerate(reader, start=2):
            row = {(key or "").strip().lower(): value for key, value in row.items()}
            if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
                continue
            records.append(_record(row, f"{path}, line {line}", "both"))
    return records


def _read_json(path: str) -> list[Record]:
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
    if isinstance(data, list):
        return [_record(entry, f"{path}, entry {i}", "both") for i, entry in enumerate(data)]
    if isinstance(data, dict) and ("query" in data or "gallery" in data):
        records = []
        for role in ("query", "gallery"):
            entries = data.get(role, [])
            if not isinstance(entries, list):
                raise ValueError(f"{path}: '{role}' must be a list of {{'path', 'label'}} objects")
            for i, entry in enumerate(entries):
                entry = dict(entry, split=role) if isinstance(entry, dict) else entry
                records.append(_record(entry, f"{path}, {role}[{i}]", role))
        return records
    raise ValueError(f"{path}: expected a JSON list of {{'path', 'label', 'split'}} objects or an object with "
                     "'query' and 'gallery' lists")


def read_query_gallery_file(path: str) -> list[Record]:
    """Records of a ``.csv`` or ``.json`` query/gallery list, in file order."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        records = _read_csv(path)
    elif extension == ".json":
        records = _read_json(path)
    else:
        raise ValueError(f"{path}: a query/gallery list must be a .csv or a .json file")
    if not records:
        raise ValueError(f"{path} lists no images")
    return records
