"""Where OpenVINO keeps a compiled encoder: one folder per ONNX graph content and OpenVINO version.

OpenVINO's own ``CACHE_DIR`` blob is found by the model's path; an ONNX file replaced in place (a
bundle exported again into the same folder) would then load the old compiled model. The folder name
here is a hash of the graph's content identity (:func:`graph_identity`) and the OpenVINO version, so a
changed graph never meets a blob compiled from another one.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from imret.utils.cache_dir import cache_root
from imret.utils.hashing import file_sha256

#: Bumped when what decides a compiled blob changes beyond the graph and the OpenVINO version.
CACHE_FORMAT = 1


def graph_identity(onnx_path: Path, content_sha256: Optional[str] = None) -> str:
    """What identifies the graph's content: ``content_sha256`` when the caller knows it (a bundle's
    verified manifest), the export key in the name of a graph from imret's ONNX cache (computed from
    the provenance and weights), else the file's SHA-256."""
    from .onnx_export import cache_dir as onnx_cache_dir

    if content_sha256:
        return f"sha256:{content_sha256}"
    if onnx_path.parent == onnx_cache_dir() and onnx_path.name.startswith("encoder-"):
        return f"export:{onnx_path.stem}:{onnx_path.stat().st_size}"
    return f"sha256:{file_sha256(onnx_path)}"


def compiled_cache_dir(onnx_path: os.PathLike | str, content_sha256: Optional[str] = None) -> Optional[Path]:
    """The cache folder for ``onnx_path``'s compiled models (created), or None when caching is off
    (``IMRET_OPENVINO_CACHE=0``) or the folder cannot be made (then the graph is compiled each time)."""
    import openvino

    if os.environ.get("IMRET_OPENVINO_CACHE", "1") == "0":
        return None
    identity = graph_identity(Path(onnx_path), content_sha256)
    key = hashlib.sha256(f"{identity}|openvino{openvino.get_version()}|{CACHE_FORMAT}".encode())
    folder = cache_root() / "openvino" / key.hexdigest()[:32]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None
