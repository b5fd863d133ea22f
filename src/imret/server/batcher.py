"""A bounded pool of inference threads that encode concurrent queries together, in micro-batches."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

log = logging.getLogger("imret.server")


class QueueFullError(RuntimeError):
    """More query images are waiting than the queue allows."""


@dataclass
class _Job:
    images: list
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _settle(future: asyncio.Future, result: Optional[np.ndarray], error: Optional[BaseException]) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class EncoderPool:
    """``await pool.encode(images)`` -> vectors; at most ``queue_size`` images wait or run at once.

    Each of ``workers`` threads takes the oldest job, then for up to ``window_ms`` gathers further jobs
    into the same forward pass while the batch holds fewer than ``max_batch`` images. A batch that fails
    is retried job by job, so one bad query fails only its own request.
    """

    def __init__(self, encode: Callable[[Sequence[np.ndarray]], np.ndarray], workers: int = 1,
                 max_batch: int = 8, window_ms: float = 2.0, queue_size: int = 64) -> None:
        self._encode = encode
        self.workers, self.max_batch, self.window, self.queue_size = workers, max_batch, window_ms / 1000, queue_size
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._pending = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.batches = 0
        self.encoded = 0

    @property
    def pending(self) -> int:
        """Images waiting or being encoded."""
        return self._pending

    def start(self) -> None:
        for number in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"imret-encoder-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    async def encode(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Vectors of ``images`` in order; :class:`QueueFullError` when the queue has no room for them."""
        loop = asyncio.get_running_loop()
        job = _Job(list(images), loop.create_future(), loop)
        with self._cond:
            if self._stopping:
                raise QueueFullError("the server is shutting down")
            if self._pending + len(job.images) > self.queue_size:
                raise QueueFullError(f"{self._pending} query images are already waiting (limit {self.queue_size})")
            self._pending += len(job.images)
            self._jobs.append(job)
            self._cond.notify()
        return await job.future

    def _next_batch(self) -> Optional[list[_Job]]:
        with self._cond:
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if not self._jobs:
                return None
            batch = [self._jobs.popleft()]
            size = len(batch[0].images)
            deadline = time.monotonic() + self.window
            while size < self.max_batch:
                if self._jobs:
                    if size + len(self._jobs[0].images) > self.max_batch:
                        break
                    job = self._jobs.popleft()
                    batch.append(job)
                    size += len(job.images)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    break
                self._cond.wait(remaining)
            return batch

    def _run(self, batch: list[_Job]) -> None:
        images = [image for job in batch for image in job.images]
        try:
            vectors = self._encode(images)
        except Exception as error:
            if len(batch) == 1:
                self._finish(batch[0], None, error)
                return
            for job in batch:
                self._run([job])
            return
        self.batches += 1
        self.encoded += len(images)
        start = 0
        for job in batch:
            self._finish(job, vectors[start:start + len(job.images)], None)
            start += len(job.images)

    def _finish(self, job: _Job, result: Optional[np.ndarray], error: Optional[BaseException]) -> None:
        with self._cond:
            self._pending -= len(job.images)
        try:
            job.loop.call_soon_threadsafe(_settle, job.future, result, error)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass

    def _work(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            except Exception:  # keep the worker alive whatever happens
                log.exception("encoder worker failed")
