"""Index URIs as they may be printed: without ``user:password@`` credentials."""
from __future__ import annotations

import os
import re
from typing import Union

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)[^@/?#]*@")


def redact_credentials(uri: Union[str, os.PathLike]) -> str:
    """``uri`` with any ``user:password@`` part of a ``scheme://`` URI removed (paths are unchanged)."""
    return _USERINFO.sub(r"\1", os.fspath(uri))
