"""`imret demo`: offline, real photos, prints ranked matches and the rank-1 fraction, writes grids."""
from __future__ import annotations

import re

from PIL import Image

from imret.cli.main import main


def test_demo_finds_edited_photos_and_writes_grids(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--max-images", "4", "--no-progress"]) == 0
    text = capsys.readouterr().out
    found = re.search(r"found at rank 1: (\d+)/(\d+)", text)
    assert found, text
    hits, total = map(int, found.groups())
    assert total == 16  # 4 photos x 4 edits
    assert hits / total >= 0.75, text
    grids = sorted((out / "grids").glob("*.png"))
    assert len(grids) == total and f"match grids: {out / 'grids'}" in text
    with Image.open(grids[0]) as grid:
        assert grid.size == (8 + 4 * (192 + 8), 8 + 192 + 34 + 8)  # query + top 3
    # the gallery index is kept: a second run encodes nothing new
    assert main(["demo", "--out", str(out), "--max-images", "1", "--no-progress"]) == 0
    assert "encoded 0 new or changed images" in capsys.readouterr().out
