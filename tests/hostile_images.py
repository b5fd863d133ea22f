"""Hostile test inputs built in memory: tiny PNGs with huge or extreme sizes, FIFOs, sockets."""
from __future__ import annotations

import os
import socket
import struct
import threading
import zlib
from pathlib import Path
from typing import Callable


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit grey PNG of ``width`` x ``height`` black pixels, compressed row by row (a few KB).

    ``blank_png(4000, 1)`` is the issue's 84-byte aspect-ratio bomb; ``blank_png(12500, 12500)`` its
    156-megapixel image of ~20 KB.
    """
    row = b"\0" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = []
    rows_per_step = max(1, (1 << 20) // len(row))
    for start in range(0, height, rows_per_step):
        body.append(packer.compress(row * min(rows_per_step, height - start)))
    body.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(body)) + _chunk(b"IEND", b"")


def peak_rss_kb() -> int:
    """This process's peak resident memory in KiB (``VmHWM``).

    Unlike ``ru_maxrss`` it starts afresh at ``exec``: a child started from a big test process does
    not inherit the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def make_fifo(path: Path) -> Path:
    """A FIFO (named pipe) at ``path``; opening it for reading in blocking mode would hang."""
    os.mkfifo(path)
    return path


def make_socket(path: Path) -> socket.socket:
    """A bound Unix socket at ``path`` (keep the returned object open while testing)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    return server


def finishes_within(seconds: float, call: Callable[[], object]) -> tuple[bool, object]:
    """Run ``call`` in a daemon thread: (finished in time, its result or the exception it raised)."""
    outcome: list = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # the caller inspects it
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    return (not worker.is_alive(), outcome[0] if outcome else None)
