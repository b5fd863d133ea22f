"""Shared test fixtures: paths to the real data in ../shared (skipped when absent)."""
from __future__ import annotations

from pathlib import Path

import os

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets_root() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data {SHARED_DATASETS} not found (needs ../shared/datasets beside the repository)")
    return SHARED_DATASETS


@pytest.fixture(scope="session", autouse=True)
def imret_cache_dir(tmp_path_factory) -> Path:
    """ONNX graphs exported by the tests go to a session folder, not ~/.cache/imret (unless
    IMRET_CACHE_DIR is set, e.g. to reuse exports across runs)."""
    configured = os.environ.get("IMRET_CACHE_DIR")
    if configured:
        return Path(configured)
    folder = tmp_path_factory.mktemp("imret-cache")
    os.environ["IMRET_CACHE_DIR"] = str(folder)
    return folder
