"""Fixtures for the runtime tests: a session ONNX cache, the default model on torch, real photos."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_dir(tmp_path_factory) -> Path:
    """Exported graphs go to a session folder (unless IMRET_CACHE_DIR is set), so tests never touch ~/.cache."""
    configured = os.environ.get("IMRET_CACHE_DIR")
    if configured:
        return Path(configured)
    folder = tmp_path_factory.mktemp("imret-cache")
    os.environ["IMRET_CACHE_DIR"] = str(folder)
    return folder


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
