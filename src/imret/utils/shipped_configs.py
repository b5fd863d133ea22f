"""The configs shipped with imret (``imret/configs``) and finding one by its name."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

SHIPPED_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def shipped_config_names() -> list[str]:
    """Names of the configs shipped with imret (``folder/name`` without ``.py``; bases left out)."""
    if not SHIPPED_CONFIG_DIR.is_dir():
        return []
    return sorted(path.relative_to(SHIPPED_CONFIG_DIR).with_suffix("").as_posix()
                  for path in SHIPPED_CONFIG_DIR.rglob("*.py") if "_base_" not in path.parts)


def config_name(name: str | os.PathLike) -> str:
    """``name`` as shipped configs are named: ``folder/name``, without ``.py``, ``./`` or ``configs/``."""
    # ``configs/...``: the path used when the configs lived at the top of the repository
    return Path(os.fspath(name)).expanduser().as_posix().removesuffix(".py").removeprefix("./").removeprefix("configs/")


def shipped_config(name: str | os.PathLike) -> Optional[Path]:
    """The shipped config ``name`` names (relative name or unique bare file name), or None."""
    text = config_name(name)
    names = shipped_config_names()
    if text in names:
        return SHIPPED_CONFIG_DIR / f"{text}.py"
    by_stem = [known for known in names if known.rsplit("/", 1)[-1] == text]
    return SHIPPED_CONFIG_DIR / f"{by_stem[0]}.py" if len(by_stem) == 1 else None
