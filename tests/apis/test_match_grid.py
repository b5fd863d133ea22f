"""Match grids: a valid PNG of the computed size, tiles in the right places."""
from __future__ import annotations

import numpy as np
from PIL import Image

from imret.apis.match_grid import CAPTION_HEIGHT, PAD, grid_size, write_match_grid


def _solid(path, colour, size=(40, 30)):
    Image.new("RGB", size, colour).save(path)
    return str(path)


def test_grid_png_size_and_tile_colours(tmp_path):
    query = _solid(tmp_path / "query.png", (255, 0, 0))
    matches = [(_solid(tmp_path / f"m{i}.png", colour), score, f"m{i}.png")
               for i, (colour, score) in enumerate([((0, 255, 0), 0.9), ((0, 0, 255), 0.5), ((0, 0, 0), 0.1)])]
    out = write_match_grid(tmp_path / "grids" / "q.png", query, matches, tile=64)
    with Image.open(out) as grid:
        assert grid.format == "PNG"
        # hand-computed: 4 tiles of 64 px with 8 px gaps; one row plus a 34 px caption
        assert grid.size == (8 + 4 * (64 + 8), 8 + 64 + 34 + 8) == grid_size(3, tile=64)
        pixels = np.asarray(grid.convert("RGB"))
    centre_y = PAD + 32
    expected = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0)]
    for column, colour in enumerate(expected):
        centre_x = PAD + column * (64 + PAD) + 32
        assert tuple(pixels[centre_y, centre_x]) == colour
    caption = pixels[PAD + 64 + 4:PAD + 64 + CAPTION_HEIGHT, PAD:PAD + 64]
    assert (caption < 128).any(), "caption text is drawn under the query"
    assert not list(tmp_path.glob("grids/.*")), "no temporary file left behind"


def test_bgr_array_query_is_shown_in_rgb(tmp_path):
    bgr = np.zeros((20, 20, 3), np.uint8)
    bgr[:, :, 0] = 255  # blue in BGR order
    out = write_match_grid(tmp_path / "a.png", bgr, [], tile=32)
    pixels = np.asarray(Image.open(out).convert("RGB"))
    assert tuple(pixels[PAD + 16, PAD + 16]) == (0, 0, 255)
