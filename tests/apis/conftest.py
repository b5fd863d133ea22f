"""Fixtures for the apis tests: the default model, a folder of real photos."""
from __future__ import annotations

from pathlib import Path

import pytest

from apis_photos import copy_photos


@pytest.fixture(scope="session")
def default_model():
    from imret.apis import get_model
    return get_model("efficientnet-lite0_gem")


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    copy_photos(tmp_path / "gallery")
    return tmp_path / "gallery"
