"""Settings of one search server, checked when they are made."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional


def default_workers() -> int:
    """Inference threads by default: 2 where this process may use 2 or more cores, else 1."""
    from imret.utils.threads import available_cpus

    return min(2, available_cpus())


@dataclass(frozen=True)
class ServerConfig:
    """What ``imret serve`` was told; every limit the server enforces lives here."""

    index_path: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=default_workers)  # inference threads; forward passes that overlap
    max_batch: int = 8                  # query images per forward pass
    batch_window_ms: float = 2.0        # how long a batch waits for more queries
    queue_size: int = 64                # query images waiting or encoding; beyond -> 503
    max_upload_mb: float = 20.0         # whole request body
    max_pixels: int = 40_000_000        # decoded query size
    max_batch_files: int = 16           # images in one batch search
    default_topk: int = 10
    max_topk: int = 100
    max_offset: int = 1000
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    header_timeout: float = 10.0        # seconds to send the request line and headers
    body_timeout: float = 30.0          # seconds to send the whole body
    keepalive_timeout: float = 5.0
    max_connections: int = 512
    reload_interval: float = 1.0        # seconds between checks of the index's CURRENT file
    thumb_px: int = 256
    thumb_cache_mb: float = 32.0
    runtime: Optional[str] = None
    device: Optional[str] = None

    def __post_init__(self) -> None:
        positive = ("workers", "max_batch", "queue_size", "max_upload_mb", "max_pixels", "max_batch_files",
                    "default_topk", "max_topk", "header_timeout", "body_timeout", "keepalive_timeout",
                    "max_connections", "reload_interval", "thumb_px", "thumb_cache_mb")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")
        if self.batch_window_ms < 0 or self.max_offset < 0:
            raise ValueError("--batch-window-ms and the maximum offset must be >= 0")
        if self.default_topk > self.max_topk:
            raise ValueError(f"--topk {self.default_topk} is above the maximum {self.max_topk}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {self.port}")
        from imret.runtimes import RuntimeSelectionError, check_device, list_runtimes

        if self.runtime is not None and self.runtime not in list_runtimes():
            raise ValueError(f"--runtime must be one of {', '.join(list_runtimes())}, got {self.runtime!r}")
        if self.device is not None:
            try:
                check_device(self.device)
            except RuntimeSelectionError:
                raise ValueError(f"--device must look like cpu, cuda or cuda:0, got {self.device!r}") from None
        for origin in self.cors_origins:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"--cors-origin must be '*' or scheme://host[:port] without a path, got {origin!r}")

    @property
    def batch_files(self) -> int:
        """Images one batch search may send (never more than the queue holds)."""
        return min(self.max_batch_files, self.queue_size)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)
