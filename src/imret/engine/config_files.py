"""Finding config files (a path, or the name of a config shipped with imret) and their data paths.

Resolution of ``CONFIG`` on the command line: an existing file first; else a config shipped in
``imret/configs`` by its name relative to that folder (``arcface/efficientnet-lite0-arcface_flowers12``,
with or without ``.py``, with or without a leading ``configs/``) or by its bare file name when that is
unique.

Data paths: shipped configs write their data roots as ``{{$IMRET_DATA_ROOT:~/imret_data}}/<dataset>``
(mmengine substitutes the environment variable when the file is read). After loading, relative data
paths -- ``data_root`` anywhere, and ``ann_file`` / ``data_prefix`` of datasets without a ``data_root`` --
are made absolute against the directory of the config file given, and ``~`` is expanded.
"""
from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Iterator

from imret.utils.shipped_configs import SHIPPED_CONFIG_DIR, config_name, shipped_config, shipped_config_names

DATA_ROOT_VARIABLE = "IMRET_DATA_ROOT"
DEFAULT_DATA_ROOT = "~/imret_data"


class ConfigNotFoundError(FileNotFoundError):
    """Neither a config file nor a shipped config of that name exists; the message lists close names."""


def resolve_config_path(name: str | os.PathLike) -> Path:
    """The config file ``name`` stands for: an existing file, else a shipped config (see the module doc)."""
    given = Path(os.fspath(name)).expanduser()
    if given.is_file():
        return given
    shipped = shipped_config(name)
    if shipped is not None:
        return shipped
    text = config_name(name)
    names = shipped_config_names()
    stems = {known.rsplit("/", 1)[-1]: known for known in names}
    close = difflib.get_close_matches(text, names, n=5, cutoff=0.5)
    for stem in difflib.get_close_matches(text.rsplit("/", 1)[-1], list(stems), n=5, cutoff=0.5):
        if stems[stem] not in close:
            close.append(stems[stem])
    hint = (f"close shipped names: {', '.join(close)}" if close
            else f"shipped configs: {', '.join(names) or 'none'}")
    raise ConfigNotFoundError(f"config {os.fspath(name)} is neither a file nor a config shipped with imret; "
                              f"{hint}")


def absolute_data_root_environment() -> dict[str, str]:
    """``IMRET_DATA_ROOT`` made absolute (against the current directory, ``~`` expanded), if it is set."""
    value = os.environ.get(DATA_ROOT_VARIABLE)
    if not value:
        return {}
    return {DATA_ROOT_VARIABLE: str(Path(value).expanduser().absolute())}


def _is_local_relative(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "://" not in value and not Path(
        os.path.expanduser(value)).is_absolute()


def _absolute(value: str, base_dir: Path) -> str:
    path = Path(os.path.expanduser(value))
    return os.path.normpath(path if path.is_absolute() else base_dir / path)


def _dicts(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _dicts(value)


def resolve_data_paths(cfg: Any, base_dir: str | os.PathLike) -> None:
    """Make the config's relative data paths absolute against ``base_dir`` (in place; see module doc)."""
    base = Path(base_dir).absolute()
    for node in _dicts(cfg):
        root = node.get("data_root")
        if isinstance(root, str) and root and "://" not in root:
            node["data_root"] = _absolute(root, base)
            continue
        if "type" not in node or root:
            continue
        if _is_local_relative(node.get("ann_file")):
            node["ann_file"] = _absolute(node["ann_file"], base)
        prefix = node.get("data_prefix")
        if _is_local_relative(prefix):
            node["data_prefix"] = _absolute(prefix, base)
        elif isinstance(prefix, dict):
            for key, value in list(prefix.items()):
                if _is_local_relative(value):
                    prefix[key] = _absolute(value, base)
