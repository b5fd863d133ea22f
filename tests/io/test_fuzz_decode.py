"""Fuzzing the shared decode path: every input decodes within the limits or raises ImageDecodeError.

Hypothesis builds small images (PNG, JPEG, GIF, BMP, TIFF in modes 1, L, P, LA, RGB, RGBA, I;16, I,
F, CMYK), then truncates them, flips bits or writes extreme sizes into their headers. Each input is
decoded by ``imret.io.decode_bgr`` in a separate worker process, so a hang is caught by a per-call
timeout and the worker's peak memory is checked after every call.
"""
from __future__ import annotations

import io
import json
import os
import select
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

MAX_PIXELS = 4_000_000
MEMORY_CAP_KB = 600 * 1024  # peak RSS of the worker, whatever it decoded
CALL_TIMEOUT = 60.0  # a hang never returns; a busy 2-core machine can stall a call for seconds
DOCUMENTED = {"ImageDecodeError", "ImageNotFoundError", "NotRegularFileError", "ImageTooLargeError"}

WORKER = textwrap.dedent("""
    import json, resource, struct, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a safety net; the cap is checked by the test
    sys.path.insert(0, %r)
    from hostile_images import peak_rss_kb
    from imret.io import ImageDecodeError, decode_bgr
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.read(12)
        if len(head) < 12:
            break
        size, draft_w, draft_h = struct.unpack(">III", head)
        data = stdin.read(size)
        try:
            array = decode_bgr(data, name="fuzz.img", max_pixels=%d,
                               draft_size=(draft_w, draft_h) if draft_w else None)
            reply = {"ok": True, "shape": list(array.shape), "dtype": str(array.dtype)}
        except ImageDecodeError as error:
            reply = {"ok": False, "error": type(error).__name__, "message": str(error)}
        except BaseException as error:
            reply = {"ok": False, "error": type(error).__name__, "message": repr(error)[:500]}
        reply["maxrss_kb"] = peak_rss_kb()
        stdout.write(json.dumps(reply) + "\\n")
        stdout.flush()
""" % (str(Path(__file__).resolve().parents[1]), MAX_PIXELS))


class Worker:
    """One decoding process; ``decode`` returns its reply or fails the test on a hang or a crash."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))

    def decode(self, data: bytes, draft: tuple[int, int]) -> dict:
        self.process.stdin.write(struct.pack(">III", len(data), *draft) + data)
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], CALL_TIMEOUT)
        if not ready:
            self.process.kill()
            pytest.fail(f"decoding hung for more than {CALL_TIMEOUT} s on {len(data)} bytes: {data[:64]!r}")
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"the decoding worker died: {self.process.stderr.read().decode()[-2000:]}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def worker():
    started = Worker()
    yield started
    started.close()


FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF")
MODES = ("1", "L", "P", "LA", "RGB", "RGBA", "I;16", "I", "F", "CMYK")
EXTREME = (0, 1, 2, 3, 255, 4000, 40000, 65535, 65536, 100_000, 2**31 - 1, 2**32 - 1)


def _base_image(fmt: str, mode: str, width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    image = image.convert("RGB").convert(mode) if mode not in ("RGBA", "LA") else image.convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # the format cannot store that mode: store it as RGB
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _png_size(data: bytearray, width: int, height: int, fix_crc: bool) -> None:
    if len(data) >= 33 and data[12:16] == b"IHDR":
        data[16:24] = struct.pack(">II", width, height)
        if fix_crc:
            data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)


def _jpeg_size(data: bytearray, width: int, height: int) -> None:
    for marker in (b"\xff\xc0", b"\xff\xc1", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0 and at + 9 <= len(data):
            data[at + 5:at + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
            return


def _gif_size(data: bytearray, width: int, height: int) -> None:
    data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
    at = data.find(b"\x2c", 13)
    if at >= 0 and at + 9 <= len(data):
        data[at + 5:at + 9] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)


def _bmp_size(data: bytearray, width: int, height: int, flip: bool) -> None:
    signed = lambda v: ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000  # noqa: E731
    data[18:26] = struct.pack("<ii", signed(width), -signed(height) if flip else signed(height))


@st.composite
def hostile_images(draw) -> tuple[bytes, tuple[int, int], str]:
    fmt = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(MODES))
    data = bytearray(_base_image(fmt, mode, draw(st.integers(1, 48)), draw(st.integers(1, 48)),
                                 draw(st.integers(0, 2**16))))
    how = draw(st.sampled_from(("none", "truncate", "bitflip", "size", "size+truncate")))
    if "size" in how:
        width, height = draw(st.sampled_from(EXTREME)), draw(st.sampled_from(EXTREME))
        if fmt == "PNG":
            _png_size(data, width, height, draw(st.booleans()))
        elif fmt == "JPEG":
            _jpeg_size(data, width, height)
        elif fmt == "GIF":
            _gif_size(data, width, height)
        elif fmt == "BMP":
            _bmp_size(data, width, height, draw(st.booleans()))
    if "truncate" in how:
        data = data[:draw(st.integers(0, len(data)))]
    if how == "bitflip":
        for position in draw(st.lists(st.integers(0, max(0, len(data) - 1)), min_size=1, max_size=8)):
            if data:
                data[position] ^= 1 << draw(st.integers(0, 7))
    draft = draw(st.sampled_from(((0, 0), (16, 16), (224, 224))))
    return bytes(data), draft, f"{fmt}/{mode}/{how}"


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=hostile_images())
def test_every_input_decodes_within_limits_or_raises_the_documented_error(worker, case):
    data, draft, label = case
    reply = worker.decode(data, draft)
    assert reply["maxrss_kb"] < MEMORY_CAP_KB, (label, reply)
    if reply["ok"]:
        height, width, channels = reply["shape"]
        assert channels == 3 and reply["dtype"] == "uint8", (label, reply)
        assert 1 <= height * width <= MAX_PIXELS, (label, reply)
    else:
        assert reply["error"] in DOCUMENTED, (label, reply)
        assert "fuzz.img" in reply["message"], (label, reply)
