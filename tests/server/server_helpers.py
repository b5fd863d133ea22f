"""Running ``imret serve`` in a subprocess on loopback, and talking to it with raw sockets or httpx."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import httpx

IMRET = Path(sys.executable).parent / "imret"
UKBENCH_VIEWS = 4  # image n shows object n // 4
# The shared server's gallery: objects 0-3 (UKBench images 0-15); views 0 and 4 are held out as queries.
HELD_OUT = (0, 4)
GALLERY_NUMBERS = tuple(n for n in range(16) if n not in HELD_OUT)
OUTSIDE_NUMBER = 20  # reachable only through a symlink that points out of the gallery


class ServerProcess:
    """``imret serve INDEX --port 0 ...``; :attr:`base` is its URL once :meth:`wait_ready` returned."""

    def __init__(self, index: Path, log_path: Path, *options: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([str(IMRET), "serve", str(index), "--port", "0", "--log-level", "warning",
                                      *options], stdout=self._log, stderr=subprocess.STDOUT)
        self.base = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240) -> str:
        """Poll the log for the port, then /health, then /ready; returns the base URL."""
        deadline = time.monotonic() + timeout
        while not self.base:
            found = re.search(r"open (http://127\.0\.0\.1:\d+)/", self.log())
            if found:
                self.base = found.group(1)
            elif self.proc.poll() is not None:
                raise RuntimeError(f"imret serve exited with {self.proc.returncode}: {self.log()[-2000:]}")
            elif time.monotonic() > deadline:
                raise TimeoutError(f"imret serve printed no address: {self.log()[-2000:]}")
            else:
                time.sleep(0.1)
        for path in ("/health", "/ready"):
            while True:
                try:
                    if httpx.get(self.base + path, timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{path} never answered 200: {self.log()[-2000:]}")
                time.sleep(0.2)
        return self.base

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def build_index(model, gallery: Path, index: Path) -> None:
    """Index ``gallery`` into ``index`` as ``imret index`` does (same sync, same model)."""
    from imret.apis import make_encoder
    from imret.index.sync import sync_folder

    sync_folder(str(index), str(gallery), make_encoder(model, batch_size=8), provenance=model.provenance,
                progress=False)


def copy_ukbench(source: Path, folder: Path, numbers, per_object_folders: bool = True) -> dict[int, Path]:
    """Copy UKBench images into ``folder`` (``objNNN/`` sub-folders when asked); number -> copy."""
    copies = {}
    for number in numbers:
        target_dir = folder / f"obj{number // UKBENCH_VIEWS:03d}" if per_object_folders else folder
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"ukbench{number:05d}.jpg"
        shutil.copyfile(source / f"ukbench{number:05d}.jpg", target)
        copies[number] = target
    return copies


def object_of(item_id: str) -> int:
    return int(re.search(r"ukbench(\d{5})", item_id).group(1)) // UKBENCH_VIEWS


def raw_exchange(port: int, data: bytes, timeout: float = 20, chunks: Optional[list] = None,
                 pause: float = 0.0) -> bytes:
    """Send ``data`` (then ``chunks``, ``pause`` seconds apart) and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        for chunk in chunks or []:
            time.sleep(pause)
            try:
                sock.sendall(chunk)
            except OSError:
                break
        received = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                received += part
        except (socket.timeout, ConnectionResetError):
            pass
    return received


def parse_response(raw: bytes) -> tuple[int, dict, bytes]:
    """Status, lower-case headers and body of the first HTTP response in ``raw``."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return status, headers, body


def multipart(fields: list[tuple[str, Optional[str], bytes]], boundary: str = "imretboundary") -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename or None, value) parts, and its Content-Type."""
    out = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def assert_clean_error(status: int, headers: dict, body: bytes, *, forbidden: tuple = (), busy: bool = False) -> dict:
    """A 4xx (or with ``busy`` a 503) JSON error with a message: no traceback, absolute path or temp file name."""
    assert 400 <= status < 500 or (busy and status == 503), (status, body[:300])
    assert headers.get("content-type", "").startswith("application/json"), headers
    payload = json.loads(body)
    assert isinstance(payload.get("error"), str) and payload["error"], payload
    assert isinstance(payload.get("code"), str) and payload["code"], payload
    text = body.decode("utf-8", "replace")
    for marker in ("Traceback", 'File "', "/tmp", "tmp/", os.sep + "home" + os.sep, "site-packages", *forbidden):
        assert marker not in text, (marker, text)
    return payload
