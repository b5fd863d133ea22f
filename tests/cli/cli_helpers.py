"""Helpers for the command-line tests: running ``imret`` in a subprocess, sample photos, file hashes."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import skimage

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
EXTRA_PHOTOS = ("coins.png", "motorcycle_left.png")


IMRET = Path(sys.executable).parent / "imret"


def imret(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed ``imret`` command (beside this interpreter) and capture its output."""
    assert IMRET.is_file(), f"{IMRET} is missing: install imret into this environment (pip install -e .)"
    return subprocess.run([str(IMRET), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def copy_photos(folder: Path, names) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SKIMAGE_DATA / name, folder / name)
    return sorted(folder / name for name in names)


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (relative path -> hash)."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}
