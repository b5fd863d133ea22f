"""Fixtures for the runtime tests: the default model on torch, real photos."""
from __future__ import annotations

from pathlib import Path

import pytest


SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """../shared/datasets for module-scoped fixtures (skips like ``shared_datasets_root`` when absent)."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data {SHARED_DATASETS} not found (needs ../shared/datasets beside the repository)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def torch_model():
    from imret.apis import get_model
    return get_model("efficientnet-lite0_gem", runtime="torch", device="cpu")


@pytest.fixture
def real_photos(shared_datasets_root: Path) -> list[str]:
    """8 UKBench photos (2 objects x 4 views, 640x480) and 4 flowers12 photos (224x224)."""
    ukbench = [str(shared_datasets_root / "ukbench" / f"ukbench{i:05d}.jpg") for i in range(8)]
    flowers = sorted(str(p) for p in (shared_datasets_root / "flowers12" / "test").glob("*/*.jpg"))[::20][:4]
    return ukbench + flowers
