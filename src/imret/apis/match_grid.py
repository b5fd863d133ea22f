"""PNG picture of a search: the query, then its matches with rank, score and file name."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from imret.io import open_image
from imret.utils.atomic import atomic_output

GridImage = Union[str, os.PathLike, np.ndarray, Image.Image]
PAD = 8
CAPTION_HEIGHT = 34
BACKGROUND = (255, 255, 255)
QUERY_FRAME = (40, 90, 200)
MATCH_FRAME = (170, 170, 170)


def grid_size(num_matches: int, tile: int = 192) -> tuple[int, int]:
    """(width, height) in pixels of a grid with one query and ``num_matches`` matches."""
    columns = 1 + num_matches
    return PAD + columns * (tile + PAD), PAD + tile + CAPTION_HEIGHT + PAD


def _open(image: GridImage, tile: int) -> Image.Image:
    """An RGB picture; numpy arrays are taken as BGR (the loader's convention).

    Files go through ``imret.io.open_image`` (regular files only, within the limits, JPEGs decoded
    at a reduced scale still at least ``tile`` pixels).
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        array = image if image.ndim == 2 else image[:, :, 2::-1]
        return Image.fromarray(np.ascontiguousarray(array).astype(np.uint8)).convert("RGB")
    try:
        return open_image(image, draft_size=(tile, tile)).convert("RGB")
    except Exception:  # an unreadable or refused file still gets a (grey) tile
        return Image.new("RGB", (64, 64), (128, 128, 128))


def _fit(picture: Image.Image, tile: int) -> Image.Image:
    fitted = ImageOps.contain(picture, (tile, tile), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (tile, tile), BACKGROUND)
    canvas.paste(fitted, ((tile - fitted.width) // 2, (tile - fitted.height) // 2))
    return canvas


def _shorten(text: str, draw: ImageDraw.ImageDraw, font: ImageFont.ImageFont, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]
    return "…" + text


def draw_match_grid(query: GridImage, matches: Sequence[tuple[GridImage, float, str]],
                    query_label: Optional[str] = None, tile: int = 192) -> Image.Image:
    """The grid as a Pillow image; ``matches`` are ``(image, score, name)`` best first."""
    width, height = grid_size(len(matches), tile)
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    cells = [(query, "query", query_label or ("array" if isinstance(query, np.ndarray) else
                                              Path(os.fspath(query)).name if not isinstance(query, Image.Image)
                                              else "image"), QUERY_FRAME)]
    cells += [(image, f"#{rank} score {score:.3f}", name, MATCH_FRAME)
              for rank, (image, score, name) in enumerate(matches, start=1)]
    for column, (image, title, name, frame) in enumerate(cells):
        left = PAD + column * (tile + PAD)
        grid.paste(_fit(_open(image, tile), tile), (left, PAD))
        draw.rectangle([left - 2, PAD - 2, left + tile + 1, PAD + tile + 1], outline=frame, width=2)
        draw.text((left, PAD + tile + 4), _shorten(title, draw, font, tile), fill=(0, 0, 0), font=font)
        draw.text((left, PAD + tile + 18), _shorten(name, draw, font, tile), fill=(60, 60, 60), font=font)
    return grid


def write_match_grid(path: Union[str, os.PathLike], query: GridImage,
                     matches: Sequence[tuple[GridImage, float, str]], query_label: Optional[str] = None,
                     tile: int = 192) -> Path:
    """Write the grid as a PNG file (atomically) and return its path."""
    path = Path(path)
    grid = draw_match_grid(query, matches, query_label=query_label, tile=tile)
    with atomic_output(path) as temp:
        grid.save(temp, format="PNG")
    return path


def grid_file_name(query: GridImage, position: int) -> str:
    """A file name for the grid of the ``position``-th query (its stem when it is a path)."""
    if isinstance(query, (str, os.PathLike)):
        return f"{position:04d}_{Path(os.fspath(query)).stem}.png"
    return f"{position:04d}_query.png"
