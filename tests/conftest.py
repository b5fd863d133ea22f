"""Shared test fixtures: paths to the real data in ../shared (skipped when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets_root() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data {SHARED_DATASETS} not found (needs ../shared/datasets beside the repository)")
    return SHARED_DATASETS
