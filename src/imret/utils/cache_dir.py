"""Where imret keeps derived files it can rebuild (exported graphs, copied library configs)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$IMRET_CACHE_DIR`` (default ``~/.cache/imret``)."""
    return Path(os.environ.get("IMRET_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "imret"))
