"""JSON that any strict parser accepts: no NaN/Infinity and no unpaired surrogates (non-UTF-8 names)."""
from __future__ import annotations

import json
from typing import Any


def _check_text(value: Any, where: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: {value!r} is not valid text; give names through "
                             "imret.index.names.name_fields") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _check_text(item, f"{where}[{position}]")


def dump_json(data: Any, **options: Any) -> str:
    """``json.dumps`` that refuses NaN/Infinity and strings holding undecodable bytes (``ValueError``)."""
    _check_text(data, "JSON output")
    return json.dumps(data, allow_nan=False, **options)
