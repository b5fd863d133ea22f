"""What the routes share: the model, the encoder pool, the index holder and the thumbnail cache."""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Optional

import numpy as np

from . import adapter
from .batcher import EncoderPool, QueueFullError
from .config import ServerConfig
from .errors import ApiError
from .files import ThumbnailCache
from .holder import IndexHolder

log = logging.getLogger("imret.server")


class SearchService:
    """Loads the model in the background; until then :meth:`ready` raises 503 saying why."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.index_name = os.path.basename(os.path.normpath(config.index_path)) or "index"
        self.encoder: Optional[adapter.Encoder] = None
        self.pool: Optional[EncoderPool] = None
        self.holder: Optional[IndexHolder] = None
        self.load_error: Optional[str] = None
        self.thumbs = ThumbnailCache(adapter.thumbnail_bytes, config.thumb_px, int(config.thumb_cache_mb * 2**20))
        self._tasks: list[asyncio.Task] = []

    # life cycle -------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model and open the index (blocking); sets :attr:`load_error` on failure."""
        path = self.config.index_path
        try:
            token = adapter.pointer_token(path)
            encoder, snapshot = adapter.load(path, self.config.runtime, self.config.device, self.config.max_pixels,
                                             self.config.workers)
        except adapter.IndexLoadError as error:
            self.load_error = str(error)
            log.error("cannot serve: %s", error)
            return
        except Exception:  # anything else: the log has the traceback, clients get a sentence
            self.load_error = "the model could not be loaded (the server's log says why)"
            log.exception("cannot serve")
            return
        pool = EncoderPool(encoder.encode, workers=self.config.workers, max_batch=self.config.max_batch,
                           window_ms=self.config.batch_window_ms, queue_size=self.config.queue_size)
        pool.start()
        self.holder = IndexHolder(snapshot, token, lambda: adapter.pointer_token(path),
                                  lambda: adapter.reopen(path, encoder))
        self.encoder, self.pool = encoder, pool
        log.info("ready: %d items, model %s", snapshot.count, encoder.name)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._load_then_watch()))

    async def _load_then_watch(self) -> None:
        await asyncio.to_thread(self.load)
        if self.holder is not None:
            await self.holder.watch(self.config.reload_interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.pool is not None:
            await asyncio.to_thread(self.pool.stop)

    # per request ------------------------------------------------------------------------------------
    def ready(self) -> tuple[EncoderPool, adapter.GallerySnapshot]:
        """The pool and the current index snapshot, or 503 while loading or after a failed load."""
        if self.load_error is not None:
            raise ApiError(503, "not_ready", f"the server cannot search: {self.load_error}")
        if self.pool is None or self.holder is None:
            raise ApiError(503, "not_ready", "the model is still loading; retry in a few seconds", retry_after=2)
        return self.pool, self.holder.snapshot

    @property
    def not_ready_reason(self) -> Optional[str]:
        if self.load_error is not None:
            return self.load_error
        if self.pool is None or self.holder is None:
            return "loading the model"
        return None

    async def encode(self, pool: EncoderPool, images: list) -> np.ndarray:
        """Vectors of prepared query images (``Encoder.prepare``), through the micro-batching pool."""
        try:
            return await pool.encode(images)
        except QueueFullError as error:
            raise ApiError(503, "busy", f"the server is busy ({error}); retry shortly", retry_after=1) from None
        except adapter.QueryImageError as error:
            raise ApiError(400, "not_an_image", str(error)) from None
