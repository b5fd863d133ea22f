"""Encoding images (paths or arrays) into feature vectors, in batches, skipping unreadable ones."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from imret.utils.progress import progress_bar

from .pipeline import ImageInput, ImageTransform


@dataclass
class EncodeResult:
    """Vectors of the images that could be read (``ok`` gives their input positions) and the failures."""

    vectors: np.ndarray
    ok: list[int]
    failed: dict[str, str] = field(default_factory=dict)


def _describe(image: ImageInput, position: int) -> str:
    return os.fspath(image) if not isinstance(image, np.ndarray) else f"<array #{position}>"


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _prepare(transform: ImageTransform, items: Sequence[tuple[int, ImageInput]]
             ) -> tuple[list[int], list[dict], dict[str, str]]:
    positions, packed, failed = [], [], {}
    for position, image in items:
        try:
            packed.append(transform(image, sample_idx=position))
            positions.append(position)
        except Exception as error:  # an unreadable image must never stop a long run
            failed[_describe(image, position)] = _reason(error)
    return positions, packed, failed


@torch.no_grad()
def forward_features(model: nn.Module, packed: list[dict]) -> torch.Tensor:
    """Final feature vectors (N, C) of packed pipeline outputs, through the model's preprocessor."""
    batch = dict(inputs=[item["inputs"] for item in packed],
                 data_samples=[item.get("data_samples") for item in packed])
    data = model.data_preprocessor(batch, False)
    feats = model.extract_feat(data["inputs"])
    if isinstance(feats, (tuple, list)):
        feats = feats[-1]
    return feats.float().reshape(feats.shape[0], -1).cpu()


def encode_queries(model: nn.Module, transform: ImageTransform, queries: Sequence[ImageInput],
                   batch_size: int, error: type[Exception] = ValueError) -> torch.Tensor:
    """Feature vectors (N, C) of query images, in order; the first unreadable one raises ``error`` naming it.

    Unlike :func:`encode_images` nothing is skipped: a query that cannot be read is the caller's mistake.
    """
    chunks = []
    for start in range(0, len(queries), batch_size):
        packed = []
        for position, query in enumerate(queries[start:start + batch_size], start=start):
            try:
                packed.append(transform(query, sample_idx=position))
            except Exception as caught:
                reason = str(caught).splitlines()[0] if str(caught) else type(caught).__name__
                raise error(f"query {_describe(query, position)} is not a readable image ({reason})") from None
        chunks.append(forward_features(model, packed))
    return torch.cat(chunks) if chunks else torch.zeros(0, 0)


def _batches(images: Sequence[ImageInput], batch_size: int) -> Iterator[list[tuple[int, ImageInput]]]:
    indexed = list(enumerate(images))
    for start in range(0, len(indexed), batch_size):
        yield indexed[start:start + batch_size]


def encode_images(model: nn.Module, images: Sequence[ImageInput], batch_size: int = 32,
                  progress: bool = True, desc: str = "encoding",
                  transform: Optional[ImageTransform] = None) -> EncodeResult:
    """Encode ``images`` (paths or BGR arrays) with ``model`` (from ``get_model``).

    Images that cannot be read or transformed are skipped and listed in ``failed`` with the reason.
    While one batch runs through the model, the next one is decoded in a worker thread.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    transform = transform or ImageTransform(model.pipeline_cfg)
    was_training = model.training
    model.eval()
    chunks, ok, failed = [], [], {}
    bar = progress_bar(len(images), desc, enabled=progress)
    batches = _batches(images, batch_size)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # at most two batches decoded ahead, so memory stays bounded on huge galleries
            pending = deque(pool.submit(_prepare, transform, items) for items in islice(batches, 2))
            while pending:
                positions, packed, batch_failed = pending.popleft().result()
                following = next(batches, None)
                if following is not None:
                    pending.append(pool.submit(_prepare, transform, following))
                failed.update(batch_failed)
                if packed:
                    chunks.append(forward_features(model, packed).numpy())
                    ok.extend(positions)
                bar.update(len(positions) + len(batch_failed))
    finally:
        bar.close()
        model.train(was_training)
    vectors = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, 0), np.float32)
    return EncodeResult(vectors=vectors, ok=ok, failed=failed)


def make_encoder(model: nn.Module, batch_size: int = 32, progress: bool = False
                 ) -> Callable[[Sequence[str]], tuple[np.ndarray, dict[str, str]]]:
    """An ``encode(paths) -> (vectors of the readable paths, {path: reason})`` function for ``sync_folder``.

    ``progress`` shows a bar per call; ``sync_folder`` shows its own over the whole folder.
    """
    transform = ImageTransform(model.pipeline_cfg)

    def encode(paths: Sequence[str]) -> tuple[np.ndarray, dict[str, str]]:
        result = encode_images(model, list(paths), batch_size=batch_size, progress=progress,
                               transform=transform)
        return result.vectors, result.failed

    return encode
