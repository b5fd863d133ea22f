"""Slicing a gallery (tensor, array or memory map) into float32 blocks of rows.

torch is imported by the functions that make tensors, so the numpy engine does not load it.
"""
from __future__ import annotations

import sys
import warnings
from typing import TYPE_CHECKING, Any, Iterator, Union

import numpy as np

if TYPE_CHECKING:
    import torch

GalleryLike = Union["torch.Tensor", np.ndarray]

DEFAULT_BLOCK_BYTES = 64 * 2**20
MIN_BLOCK_ROWS = 256
ROW_ALIGN = 256


def block_rows_for(num_queries: int, dim: int, total: int, block_bytes: int = DEFAULT_BLOCK_BYTES,
                   itemsize: int = 4) -> int:
    """Gallery rows per block so that one block's scores and float32 copy stay within ``block_bytes``.

    The budget also shrinks with small galleries (a quarter of the gallery's bytes, at least 4 MiB) so
    that the temporaries stay a fraction of the data they are computed from.
    """
    gallery_bytes = total * dim * itemsize
    budget = min(block_bytes, max(gallery_bytes // 4, 4 * 2**20))
    rows = max(MIN_BLOCK_ROWS, budget // (4 * (max(num_queries, 1) + dim)))
    rows -= rows % ROW_ALIGN  # BLAS is markedly slower on odd widths (measured: 8465 vs 8448 rows, 1.5x)
    return int(min(rows, max(total, 1)))


def is_tensor(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (never imports torch: a tensor implies it is loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def check_dims(queries: Any, gallery: GalleryLike) -> None:
    """``ValueError`` unless queries are (N, C) and the gallery (M, C) with the same C."""
    if len(queries.shape) != 2:
        raise ValueError(f"queries must be a 2-D (N, C) array, got shape {tuple(queries.shape)}")
    if len(gallery.shape) != 2:
        raise ValueError(f"gallery must be a 2-D (M, C) array, got shape {tuple(gallery.shape)}")
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} dims but the gallery has {gallery.shape[1]}")


def as_tensor_rows(rows: GalleryLike) -> torch.Tensor:
    """View gallery rows as a tensor without copying when possible (read-only memory maps included)."""
    import torch

    if isinstance(rows, torch.Tensor):
        return rows
    array = np.ascontiguousarray(rows)
    with warnings.catch_warnings():
        # Read-only memory maps: the tensor is never written to.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def iter_gallery_blocks(gallery: GalleryLike, rows: int, device: torch.device | None = None,
                        dtype: torch.dtype | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, block)`` tensors of ``rows`` gallery rows as ``dtype`` (default float32; works on
    memory maps)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    total = gallery.shape[0]
    rows = max(1, int(rows))
    for start in range(0, total, rows):
        block = as_tensor_rows(gallery[start:start + rows])
        block = block.to(device=device, dtype=dtype) if device is not None else block.to(dtype)
        yield start, block


def gather_rows(gallery: GalleryLike, index: torch.Tensor) -> torch.Tensor:
    """Float32 rows ``gallery[index]`` for a 1-D index tensor (memory maps read only those rows)."""
    import torch

    if isinstance(gallery, torch.Tensor):
        return gallery.index_select(0, index.to(gallery.device)).float()
    flat = index.cpu().numpy()
    order = np.argsort(flat, kind="stable")
    picked = np.empty((flat.shape[0],) + tuple(gallery.shape[1:]), dtype=np.float32)
    picked[order] = gallery[flat[order]]
    return torch.from_numpy(picked)
