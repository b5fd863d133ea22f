"""The zoo as a table: name, what, dimension, where the weights come from, whether they are here offline."""
from __future__ import annotations

from typing import Optional
from urllib.parse import urlparse

from imret.utils.offline_weights import OFFLINE_PACKAGES, arch_name

from .zoo import DEFAULT_MODEL, ZOO, ZooEntry, weights_dir


def _timm_name(entry: ZooEntry) -> Optional[str]:
    for part in entry.image_encoder:
        if isinstance(part, dict) and isinstance(part.get("model_name"), str):
            return part["model_name"]
    return None


def describe_model(entry: ZooEntry) -> dict:
    """``{'name', 'what', 'dim', 'weights', 'offline', 'default'}`` for one zoo entry."""
    if entry.checkpoint_url is not None:
        local = weights_dir() / entry.checkpoint_url.rsplit("/", 1)[-1]
        weights = f"{local} (downloaded from {urlparse(entry.checkpoint_url).netloc} when missing and online)"
        offline = local.is_file()
    elif entry.bundled_weights is not None:
        package = OFFLINE_PACKAGES.get(arch_name(_timm_name(entry) or ""), (None, None, "an offline package"))[2]
        weights = f"offline, from the {package} package"
        offline = entry.bundled_weights() is not None
    else:
        weights, offline = "none (random initialisation)", True
    return {"name": entry.name, "what": entry.description, "dim": entry.dim, "weights": weights,
            "offline": bool(offline), "default": entry.name == DEFAULT_MODEL}


def describe_models() -> list[dict]:
    """One :func:`describe_model` row per zoo model, sorted by name."""
    return [describe_model(ZOO[name]) for name in sorted(ZOO)]


def format_model_table(rows: list[dict]) -> str:
    """The rows as an aligned plain-text table with a header line."""
    header = {"name": "NAME", "what": "WHAT", "dim": "DIM", "weights": "WEIGHTS", "offline": "OFFLINE"}
    cells = [header] + [{**row, "name": row["name"] + (" (default)" if row.get("default") else ""),
                         "dim": str(row["dim"]), "offline": "yes" if row["offline"] else "no"} for row in rows]
    keys = ("name", "dim", "offline", "what", "weights")
    widths = {key: max(len(str(cell[key])) for cell in cells) for key in keys}
    return "\n".join("  ".join(str(cell[key]).ljust(widths[key]) for key in keys).rstrip() for cell in cells)
