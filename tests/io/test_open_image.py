"""imret.io.open_image: regular files only, limits from the header, Pillow's bomb check, bytes input."""
from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imret.io import (ImageDecodeError, ImageNotFoundError, ImageTooLargeError, NotRegularFileError,
                      decode_bgr, display_name, open_image)
from imret.io import regular

from hostile_images import blank_png, finishes_within, make_fifo, make_socket


def _photo(path: Path, size=(40, 30), color=(200, 30, 10)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def test_png_decodes_to_bgr_and_bytes_give_the_same_pixels(tmp_path):
    path = _photo(tmp_path / "red.png")
    from_file = decode_bgr(path)
    from_bytes = decode_bgr(path.read_bytes(), name="upload.png")
    assert from_file.shape == (30, 40, 3) and from_file.dtype == np.uint8
    np.testing.assert_array_equal(from_file[0, 0], [10, 30, 200])
    np.testing.assert_array_equal(from_file, from_bytes)


def test_fifo_is_refused_without_ever_blocking(tmp_path):
    fifo = make_fifo(tmp_path / "x.jpg")
    done, outcome = finishes_within(10, lambda: open_image(fifo))
    assert done, "open_image blocked on a FIFO"
    assert isinstance(outcome, NotRegularFileError) and isinstance(outcome, ImageDecodeError)
    assert "x.jpg" in str(outcome) and "FIFO" in str(outcome) and "regular files only" in str(outcome)


def test_file_swapped_for_a_fifo_after_stat_is_refused_by_the_opened_descriptor(tmp_path, monkeypatch):
    """The check on the opened descriptor (O_NONBLOCK + fstat) catches a FIFO that stat did not see."""
    fifo = make_fifo(tmp_path / "swapped.jpg")
    regular_stat = os.stat(_photo(tmp_path / "real.png"))
    real_stat = os.stat
    monkeypatch.setattr(regular.os, "stat", lambda path, *a, **k: regular_stat if str(path) == str(fifo)
                        else real_stat(path, *a, **k))
    done, outcome = finishes_within(10, lambda: open_image(fifo))
    assert done, "open_image blocked on a FIFO it had stat'ed as a regular file"
    assert isinstance(outcome, NotRegularFileError) and "FIFO" in str(outcome)


def test_socket_device_and_directory_are_refused(tmp_path):
    short = Path(tempfile.mkdtemp(prefix="imret-sock-", dir="/tmp"))  # AF_UNIX paths are short
    try:
        server = make_socket(short / "s.png")
        try:
            with pytest.raises(NotRegularFileError, match="a socket"):
                open_image(short / "s.png")
        finally:
            server.close()
    finally:
        shutil.rmtree(short)
    with pytest.raises(NotRegularFileError, match="character device"):
        open_image("/dev/zero")
    with pytest.raises(NotRegularFileError, match="a directory"):
        open_image(tmp_path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ImageNotFoundError) as info:
        open_image(tmp_path / "nowhere.jpg")
    assert isinstance(info.value, FileNotFoundError) and "nowhere.jpg" in str(info.value)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty"):
        open_image(tmp_path / "empty.png")
    with pytest.raises(ImageDecodeError, match="empty"):
        open_image(b"")


def test_pixel_limit_is_checked_from_the_header_before_decoding(tmp_path):
    """The issue's 12500x12500 PNG (156 megapixels in ~20 KB) is refused by the default limit."""
    path = tmp_path / "huge.png"
    path.write_bytes(blank_png(12500, 12500))
    done, outcome = finishes_within(10, lambda: open_image(path))
    assert done and isinstance(outcome, ImageTooLargeError)
    # Pillow's own check (89M pixels) fires first while parsing the header; both name the size
    assert "156250000" in str(outcome).replace(",", "") and "IMRET_MAX_PIXELS" in str(outcome)
    path.write_bytes(blank_png(9000, 9000))  # 81M: under Pillow's check, over imret's 8192 x 8192
    done, outcome = finishes_within(10, lambda: open_image(path))
    assert done and isinstance(outcome, ImageTooLargeError) and "9000x9000" in str(outcome)


def test_pixel_limit_argument_and_environment_variable(tmp_path, monkeypatch):
    path = _photo(tmp_path / "small.png", size=(20, 10))
    assert open_image(path, max_pixels=200).size == (20, 10)
    with pytest.raises(ImageTooLargeError, match="200 pixels, over the limit of 199"):
        open_image(path, max_pixels=199)
    monkeypatch.setenv("IMRET_MAX_PIXELS", "199")
    with pytest.raises(ImageTooLargeError):
        open_image(path)
    assert open_image(path, max_pixels=200).size == (20, 10)  # the argument wins
    monkeypatch.setenv("IMRET_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="IMRET_MAX_PIXELS"):
        open_image(path)


@pytest.mark.parametrize("pixels", [1500, 5000])  # Pillow warns above 1000, raises above 2000
def test_pillow_decompression_bomb_warning_and_error_become_image_too_large(tmp_path, monkeypatch, pixels):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = blank_png(pixels, 1)
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        open_image(data, max_pixels=10**9)


def test_truncated_and_garbage_bytes_raise_the_documented_error():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    for broken in (data[:len(data) // 2], b"not an image at all", data[:20]):
        with pytest.raises(ImageDecodeError, match="not a readable image"):
            open_image(broken, name="upload.png")


def test_non_utf8_name_opens_and_is_shown_escaped(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(raw, "wb") as handle:
        handle.write(blank_png(8, 4))
    name = os.fsdecode(raw)
    assert open_image(name).size == (8, 4)
    assert display_name(name).endswith("caf\\xe9.png")
    display_name(name).encode("utf-8")  # printable
    with pytest.raises(ImageDecodeError) as info:
        open_image(name, max_pixels=1)
    str(info.value).encode("utf-8")
    assert "caf\\xe9.png" in str(info.value)


def test_errors_survive_pickling_for_data_loader_workers():
    import pickle

    error = pickle.loads(pickle.dumps(ImageTooLargeError("a/b.png", "too big")))
    assert type(error) is ImageTooLargeError and error.path == "a/b.png" and error.reason == "too big"
    assert str(error) == "a/b.png: not a readable image (too big)"


def test_common_formats_open_without_loading_every_plugin_and_the_rest_still_open(tmp_path):
    """A JPEG opens through Pillow's common plugins alone; TIFF and WebP (not among them) still open,
    and EPS (Ghostscript) is still refused once every plugin is loaded."""
    import json
    import subprocess
    import sys

    Image.new("RGB", (24, 16), (10, 200, 30)).save(tmp_path / "a.jpg")
    Image.new("RGB", (24, 16), (10, 200, 30)).save(tmp_path / "b.tiff")
    Image.new("RGB", (24, 16), (10, 200, 30)).save(tmp_path / "c.webp", lossless=True)
    (tmp_path / "d.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    code = f"""
import json, sys
from imret.io import ImageDecodeError, decode_bgr
out = {{"jpg": decode_bgr({str(tmp_path / 'a.jpg')!r}).shape,
        "tiff_loaded_after_jpg": "PIL.TiffImagePlugin" in sys.modules}}
out["tiff"] = decode_bgr({str(tmp_path / 'b.tiff')!r})[0, 0].tolist()
out["webp"] = decode_bgr({str(tmp_path / 'c.webp')!r})[0, 0].tolist()
try:
    decode_bgr({str(tmp_path / 'd.png')!r})
    out["eps"] = "opened"
except ImageDecodeError as error:
    out["eps"] = str(error)
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["jpg"] == [16, 24, 3] and out["tiff_loaded_after_jpg"] is False
    assert out["tiff"] == [30, 200, 10] and out["webp"] == [30, 200, 10]
    assert out["eps"] != "opened" and "unknown or corrupt image format" in out["eps"]
