"""The encode loop: images (paths or arrays) to feature vectors, in batches, skipping unreadable ones.

Decoding runs in a bounded pool of worker threads (Pillow releases the GIL while decoding and
resizing) while the runtime encodes the previous batch; at most ``PREFETCH_BATCHES`` batches are
decoded ahead, so memory stays bounded on huge galleries.
"""
from __future__ import annotations

import os
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from .pipeline import ImageInput, ImageTransform

if TYPE_CHECKING:
    from .retrieval_model import RetrievalModel

PREFETCH_BATCHES = 2
MAX_DECODE_WORKERS = 4


@dataclass
class EncodeResult:
    """Vectors of the images that could be read (``ok`` gives their input positions) and the failures."""

    vectors: np.ndarray
    ok: list[int]
    failed: dict[str, str] = field(default_factory=dict)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_decode_workers() -> int:
    """Decoding threads: one per usable core, at most ``MAX_DECODE_WORKERS``."""
    return max(1, min(MAX_DECODE_WORKERS, usable_cores()))


def describe_image(image: ImageInput, position: int) -> str:
    """A path as given, or ``<array #i>`` for an in-memory image."""
    return os.fspath(image) if not isinstance(image, np.ndarray) else f"<array #{position}>"


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _decode(transform: ImageTransform, image: ImageInput) -> tuple[Optional[np.ndarray], Optional[Exception]]:
    try:
        return transform(image), None
    except Exception as error:  # an unreadable image must never stop a long run
        return None, error


def encode_images(model: "RetrievalModel", images: Sequence[ImageInput], batch_size: int = 32,
                  progress: bool = True, desc: str = "encoding", workers: Optional[int] = None,
                  strict: Optional[type[Exception]] = None) -> EncodeResult:
    """Encode ``images`` (paths or BGR arrays) with ``model`` (from ``get_model``).

    Images that cannot be read or transformed are skipped and listed in ``failed`` with the reason;
    with ``strict`` set to an exception class, the first one raises it naming the image instead.
    ``workers`` decoding threads (default: one per core, at most 4).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    from tqdm import tqdm

    transform = model.transform
    workers = workers or default_decode_workers()
    chunks, ok, failed = [], [], {}
    starts = iter(range(0, len(images), batch_size))
    bar = tqdm(total=len(images), desc=desc, unit="img", disable=not progress, file=sys.stderr,
               dynamic_ncols=True)

    def submit(pool: ThreadPoolExecutor, start: int) -> tuple[int, list[Future]]:
        return start, [pool.submit(_decode, transform, image) for image in images[start:start + batch_size]]

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imret-decode") as pool:
            pending = deque(submit(pool, start) for _, start in zip(range(PREFETCH_BATCHES), starts))
            while pending:
                start, futures = pending.popleft()
                following = next(starts, None)
                if following is not None:
                    pending.append(submit(pool, following))
                arrays, positions = [], []
                for position, future in enumerate(futures, start=start):
                    array, error = future.result()
                    if error is None:
                        arrays.append(array)
                        positions.append(position)
                        continue
                    name = describe_image(images[position], position)
                    if strict is not None:
                        for _, rest in pending:
                            for waiting in rest:
                                waiting.cancel()
                        raise strict(f"query {name} is not a readable image ({_reason(error)})") from None
                    failed[name] = _reason(error)
                if arrays:
                    chunks.append(model.encode_arrays(arrays))
                    ok.extend(positions)
                bar.update(len(futures))
    finally:
        bar.close()
    vectors = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, 0), np.float32)
    return EncodeResult(vectors=vectors, ok=ok, failed=failed)


def encode_queries(model: "RetrievalModel", queries: Sequence[ImageInput], batch_size: int,
                   error: type[Exception] = ValueError) -> np.ndarray:
    """Feature vectors (N, C) of query images, in order; the first unreadable one raises ``error`` naming it.

    Unlike a gallery nothing is skipped: a query that cannot be read is the caller's mistake.
    """
    return encode_images(model, queries, batch_size=batch_size, progress=False, strict=error).vectors


def make_encoder(model: "RetrievalModel", batch_size: int = 32, progress: bool = False
                 ) -> Callable[[Sequence[str]], tuple[np.ndarray, dict[str, str]]]:
    """An ``encode(paths) -> (vectors of the readable paths, {path: reason})`` function for ``sync_folder``.

    ``progress`` shows a bar per call; ``sync_folder`` shows its own over the whole folder.
    """

    def encode(paths: Sequence[str]) -> tuple[np.ndarray, dict[str, str]]:
        result = encode_images(model, list(paths), batch_size=batch_size, progress=progress)
        return result.vectors, result.failed

    return encode
