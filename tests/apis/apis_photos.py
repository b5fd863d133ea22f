"""Real sample photos for the apis tests (bundled with scikit-image, no download)."""
from __future__ import annotations

import shutil
from pathlib import Path

import skimage

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "coins.png", "motorcycle_left.png")


def copy_photos(folder: Path, names=PHOTOS) -> list[Path]:
    """Copy scikit-image's bundled photos into ``folder``; returns the copies (sorted by name)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(SKIMAGE_DATA / name, folder / name)
    return sorted(folder / name for name in names)
