"""Fixtures for the server tests: a UKBench gallery and index, and one ``imret serve`` shared by the tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from server_helpers import GALLERY_NUMBERS, OUTSIDE_NUMBER, ServerProcess, build_index, copy_ukbench


@pytest.fixture(scope="session")
def server_model():
    from imret.apis import get_model
    return get_model("efficientnet-lite0_gem")


@pytest.fixture(scope="session")
def ukbench_dir() -> Path:
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "ukbench"
    if not folder.is_dir():
        pytest.skip(f"real data {folder} not found (needs ../shared/datasets beside the repository)")
    return folder


@pytest.fixture(scope="session")
def served(tmp_path_factory, ukbench_dir, server_model):
    """(server, gallery folder, index folder) for a 14-image UKBench gallery plus an escaping symlink."""
    root = tmp_path_factory.mktemp("served")
    gallery = root / "gallery"
    copy_ukbench(ukbench_dir, gallery, GALLERY_NUMBERS)
    outside = copy_ukbench(ukbench_dir, root / "outside", [OUTSIDE_NUMBER], per_object_folders=False)
    os.symlink(outside[OUTSIDE_NUMBER], gallery / "escape.jpg")
    index = root / "index"
    build_index(server_model, gallery, index)
    server = ServerProcess(index, root / "server.log", "--header-timeout", "2", "--body-timeout", "2",
                           "--max-upload-mb", "1", "--topk", "5", "--queue-size", "4")
    try:
        server.wait_ready()
        yield server, gallery, index
    finally:
        server.stop()
