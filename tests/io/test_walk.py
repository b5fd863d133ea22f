"""imret.io.walk_images and its users: regular files only, odd entries skipped with a reason, any file name."""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pytest
from PIL import Image

from imret.apis.files import SkippedFileWarning, list_image_files
from imret.datasets.image_files import list_images
from imret.index.scan import scan_folder
from imret.io import display_name, open_image, walk_images

from hostile_images import blank_png, finishes_within, make_fifo, make_socket


@pytest.fixture
def odd_folder():
    """Two images, a FIFO, a socket, a broken link, a hidden file, a text file, a link loop, a non-UTF-8 name."""
    root = Path(tempfile.mkdtemp(prefix="imret-walk-", dir="/tmp"))  # short: AF_UNIX paths are limited
    (root / "sub").mkdir()
    Image.new("RGB", (6, 4), (9, 8, 7)).save(root / "a.png")
    Image.new("RGB", (5, 5), (1, 2, 3)).save(root / "sub" / "b.JPG")
    make_fifo(root / "pipe.jpg")
    server = make_socket(root / "sock.png")
    os.symlink(root / "gone.png", root / "broken.png")
    (root / ".hidden.png").write_bytes(blank_png(2, 2))
    (root / "notes.txt").write_text("not an image")
    os.symlink(root, root / "sub" / "loop")
    with open(os.fsencode(root) + b"/caf\xe9.png", "wb") as handle:
        handle.write(blank_png(3, 2))
    yield root
    server.close()
    shutil.rmtree(root)


def test_walk_lists_regular_images_and_reports_the_rest_without_opening_them(odd_folder):
    done, scan = finishes_within(20, lambda: walk_images(odd_folder))
    assert done, "the walk hung"
    ids = [entry.id for entry in scan.entries]
    assert ids == sorted(["a.png", "caf\udce9.png", "sub/b.JPG"])
    skipped = {Path(path).name: reason for path, reason in scan.skipped.items()}
    assert "FIFO" in skipped["pipe.jpg"] and "socket" in skipped["sock.png"]
    assert "broken" in skipped["broken.png"] and "loop" in skipped["loop"]
    assert ".hidden.png" not in skipped and "notes.txt" not in skipped
    first = scan.entries[0]
    assert first.path == os.path.join(str(odd_folder), "a.png") and first.size == (odd_folder / "a.png").stat().st_size
    assert first.mtime == (odd_folder / "a.png").stat().st_mtime


def test_non_utf8_name_is_found_opened_and_shown_escaped(odd_folder):
    entry = next(e for e in walk_images(odd_folder).entries if e.id.startswith("caf"))
    assert os.fsencode(entry.path).endswith(b"/caf\xe9.png")  # lossless round trip to the bytes on disk
    assert open_image(entry.path).size == (3, 2)
    assert display_name(entry.id) == "caf\\xe9.png"


def test_scan_folder_keeps_its_contract(odd_folder):
    entries, failed = scan_folder(str(odd_folder))
    assert [e.id for e in entries] == sorted(["a.png", "caf\udce9.png", "sub/b.JPG"])
    assert all(os.path.isabs(e.path) for e in entries)
    assert any("FIFO" in reason for reason in failed.values())
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan_folder(str(odd_folder / "nowhere"))


def test_list_image_files_reports_skipped_entries(odd_folder):
    seen = {}
    paths = list_image_files(odd_folder, on_skip=lambda path, reason: seen.setdefault(Path(path).name, reason))
    assert [Path(p).name for p in paths] == ["a.png", "caf\udce9.png", "b.JPG"]
    assert "FIFO" in seen["pipe.jpg"]
    with pytest.warns(SkippedFileWarning, match="pipe.jpg"):
        list_image_files(odd_folder)


def test_dataset_listing_uses_the_same_walker(odd_folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = list_images(str(odd_folder), (".png", ".jpg"))
    assert found == sorted(["a.png", "caf\udce9.png", "sub/b.JPG"])
    assert any("pipe.jpg" in str(w.message) for w in caught)
