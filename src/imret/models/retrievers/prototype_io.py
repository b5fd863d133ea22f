"""Reading and writing prototype vector files (.pth plain tensor, .safetensors, .npy)."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from imret.utils.atomic import atomic_output
from imret.version import __version__

SAFETENSORS_KEY = "prototype_vecs"
WRITABLE_SUFFIXES = (".pth", ".pt", ".safetensors")


def _as_matrix(vectors: torch.Tensor, path: Path) -> torch.Tensor:
    if vectors.ndim != 2:
        raise ValueError(f"prototype file {path} holds a tensor of shape {tuple(vectors.shape)}; "
                         "expected (num_prototypes, feature_dim)")
    return vectors.float()


def load_prototype_vectors(path: Union[str, os.PathLike]) -> torch.Tensor:
    """Load an (M, C) float tensor saved by ``dump_prototype``, ``torch.save(tensor)`` or ``np.save``.

    Pickled files are read with ``weights_only=True``: anything but plain tensors is refused, never run.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"prototype file {path} does not exist; pass an existing .pth/.safetensors/.npy file of "
            "vectors (e.g. one written by dump_prototype) or a DataLoader / dataloader config to extract them")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"prototype file {path} is not a readable safetensors file: {error}") from None
        if SAFETENSORS_KEY in tensors:
            return _as_matrix(tensors[SAFETENSORS_KEY], path)
        if len(tensors) == 1:
            return _as_matrix(next(iter(tensors.values())), path)
        raise ValueError(f"prototype file {path} has tensors {sorted(tensors)}; expected one named "
                         f"{SAFETENSORS_KEY!r}")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"prototype file {path} is not a plain numeric .npy array: {error}") from None
        return _as_matrix(torch.from_numpy(np.asarray(array, dtype=np.float32)), path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError) as error:
        raise ValueError(
            f"prototype file {path} is not a plain tensor file and was refused without running it "
            f"(only tensors saved with torch.save are accepted): {str(error).splitlines()[0]}") from None
    if isinstance(loaded, dict) and SAFETENSORS_KEY in loaded and isinstance(loaded[SAFETENSORS_KEY], torch.Tensor):
        loaded = loaded[SAFETENSORS_KEY]
    if not isinstance(loaded, torch.Tensor):
        raise TypeError(f"prototype file {path} holds a {type(loaded).__name__}, not a tensor of vectors")
    return _as_matrix(loaded, path)


def save_prototype_vectors(vectors: torch.Tensor, path: Union[str, os.PathLike],
                           metadata: Optional[dict] = None) -> Path:
    """Write vectors atomically: ``.pth``/``.pt`` as a plain tensor, ``.safetensors`` with metadata."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_SUFFIXES:
        raise ValueError(f"cannot save prototype vectors to {path}: use one of {', '.join(WRITABLE_SUFFIXES)}")
    vectors = vectors.detach().to("cpu", torch.float32).contiguous()
    with atomic_output(path) as temp_name:
        if suffix == ".safetensors":
            info = {"format": "imret.prototype", "imret_version": __version__,
                    "count": str(vectors.shape[0]), "dim": str(vectors.shape[1])}
            info.update({key: value if isinstance(value, str) else json.dumps(value)
                         for key, value in (metadata or {}).items()})
            save_file({SAFETENSORS_KEY: vectors}, temp_name, metadata=info)
        else:
            torch.save(vectors, temp_name)
    return path
