"""Fixtures for the command-line tests."""
from __future__ import annotations

import pytest

from cli_helpers import PHOTOS, copy_photos


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """A 4-photo gallery indexed with the default model: (gallery, index)."""
    from imret.cli.main import main

    root = tmp_path_factory.mktemp("small")
    gallery = root / "gallery"
    copy_photos(gallery, PHOTOS)
    assert main(["index", str(gallery), "--out", str(root / "index"), "--no-progress"]) == 0
    return gallery, root / "index"
