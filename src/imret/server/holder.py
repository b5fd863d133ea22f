"""The index version being served, switched atomically when ``imret index`` publishes a new one."""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Callable, Generic, Optional, TypeVar

log = logging.getLogger("imret.server")
Snapshot = TypeVar("Snapshot")


class IndexHolder(Generic[Snapshot]):
    """Holds the current snapshot; :meth:`check` replaces it when the pointer token changes.

    Requests read :attr:`snapshot` once and keep using that object: a reload swaps the reference and
    never touches a snapshot in use. A version that cannot be opened (or was made by another model)
    leaves the previous one in service and is reported in :attr:`reload_error`.
    """

    def __init__(self, snapshot: Snapshot, token: Optional[tuple], token_of: Callable[[], Optional[tuple]],
                 reopen: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot
        self.reload_error: Optional[str] = None
        self.reloads = 0
        self._token = token
        self._token_of, self._reopen = token_of, reopen
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Reload if the index published a new version since the last check; True when it switched."""
        with self._lock:
            token = self._token_of()
            if token is None or token == self._token:
                return False
            try:
                fresh = self._reopen()
            except Exception as error:
                self._token = token  # this version stays broken: do not retry it every interval
                self.reload_error = str(error)
                log.warning("index changed but the new version is not served: %s", error)
                return False
            self.snapshot, self._token = fresh, token
            self.reload_error = None
            self.reloads += 1
            log.info("serving index version %s (%d items)", getattr(fresh, "version", "?"),
                     getattr(fresh, "count", -1))
            return True

    async def watch(self, interval: float) -> None:
        """Check every ``interval`` seconds until cancelled (the check runs off the event loop)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                log.exception("index reload check failed")
