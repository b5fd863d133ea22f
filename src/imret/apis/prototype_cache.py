"""Prototype vectors cached on disk, valid only for the model and the gallery files they came from.

The cache is one safetensors file: the vectors plus a JSON manifest (model provenance, gallery
fingerprint, per-sample info) in the file's metadata. A cache whose manifest does not match is
reported and rebuilt, never reused.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import torch

from imret.utils.atomic import atomic_output

from .provenance import describe_difference

FORMAT = "imret-prototype-cache/1"


def read_prototype_cache(path: str | os.PathLike, provenance: dict, fingerprint: str
                         ) -> tuple[Optional[torch.Tensor], Optional[list[dict]], str]:
    """``(vectors, samples, '')`` when the cache matches, else ``(None, None, why it cannot be used)``."""
    path = Path(path)
    if not path.exists():
        return None, None, f"no prototype cache at {path} yet"
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as handle:
            manifest = json.loads((handle.metadata() or {}).get("manifest", "null"))
            vectors = handle.get_tensor("vectors")
    except Exception as error:
        return None, None, f"{path} is not an imret prototype cache ({type(error).__name__}); rebuilding it"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None, None, f"{path} is not an imret prototype cache; rebuilding it"
    changed = describe_difference(provenance, manifest.get("provenance") or {})
    if changed:
        return None, None, (f"prototype cache {path} was made by another model (differs in {changed}); "
                            "rebuilding it")
    if manifest.get("fingerprint") != fingerprint:
        return None, None, f"the prototype images changed since {path} was made; rebuilding it"
    samples = manifest.get("samples")
    if not isinstance(samples, list) or len(samples) != vectors.shape[0]:
        return None, None, f"prototype cache {path} is inconsistent; rebuilding it"
    return vectors, samples, ""


def write_prototype_cache(path: str | os.PathLike, vectors: torch.Tensor, samples: list[dict],
                          provenance: dict, fingerprint: str) -> None:
    """Write the cache atomically (temporary file, then rename)."""
    from safetensors.torch import save_file
    manifest = dict(format=FORMAT, provenance=provenance, fingerprint=fingerprint, samples=samples)
    with atomic_output(path) as temp:
        save_file({"vectors": vectors.detach().float().cpu().contiguous()}, temp,
                  metadata={"manifest": json.dumps(manifest)})
