"""`imret index` is incremental; `imret search` prints ranked matches, JSON and match grids."""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from imret.cli.main import main

from cli_helpers import EXTRA_PHOTOS, PHOTOS, copy_photos


def _index_summary(capsys, *args: str) -> dict:
    assert main(["index", *args, "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    summary["stderr"] = captured.err
    return summary


def test_reindexing_encodes_only_new_images(tmp_path, capsys):
    gallery, index = tmp_path / "gallery", tmp_path / "index"
    copy_photos(gallery, PHOTOS)
    first = _index_summary(capsys, str(gallery), "--out", str(index))
    assert (first["encoded"], first["added"], first["count"]) == (4, 4, 4)
    again = _index_summary(capsys, str(gallery), "--out", str(index))
    assert (again["encoded"], again["added"], again["unchanged"], again["count"]) == (0, 0, 4, 4)
    copy_photos(gallery, EXTRA_PHOTOS)
    grown = _index_summary(capsys, str(gallery), "--out", str(index))
    assert (grown["encoded"], grown["added"], grown["unchanged"], grown["count"]) == (2, 2, 4, 6)
    (gallery / PHOTOS[0]).unlink()
    shrunk = _index_summary(capsys, str(gallery), "--out", str(index))
    assert (shrunk["encoded"], shrunk["removed"], shrunk["count"]) == (0, 1, 5)


def test_unreadable_gallery_image_is_reported_not_fatal(tmp_path, capsys):
    gallery = tmp_path / "gallery"
    copy_photos(gallery, PHOTOS[:2])
    (gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    summary = _index_summary(capsys, str(gallery), "--out", str(tmp_path / "index"))
    assert (summary["encoded"], summary["failed"], summary["count"]) == (2, 1, 2)  # 3 tried, 1 unreadable
    lines = summary["stderr"].splitlines()
    assert len(lines) == 1 and "skipped unreadable image" in lines[0] and "broken.png" in lines[0]


def test_search_json_grid_and_text(small_index, tmp_path, capsys):
    gallery, index = small_index
    query = Image.open(gallery / "chelsea.png").convert("RGB")
    query = query.crop((40, 30, query.width - 20, query.height - 40)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    query_path = tmp_path / "cat_query.jpg"
    query.save(query_path)
    grids = tmp_path / "grids"
    assert main(["search", str(index), str(query_path), str(gallery / "coffee.png"), "--topk", "3", "--json",
                 "--show-dir", str(grids)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [entry["query"] for entry in payload] == [str(query_path), str(gallery / "coffee.png")]
    for entry in payload:
        matches = entry["matches"]
        assert [m["rank"] for m in matches] == [1, 2, 3]
        assert all(Path(m["path"]).is_file() for m in matches)
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True) and all(isinstance(s, float) for s in scores)
    assert Path(payload[0]["matches"][0]["path"]).name == "chelsea.png"
    assert Path(payload[1]["matches"][0]["path"]).name == "coffee.png"
    assert abs(payload[1]["matches"][0]["score"] - 1.0) < 1e-3
    written = sorted(grids.glob("*.png"))
    assert len(written) == 2
    with Image.open(written[0]) as grid:
        grid.verify()
    with Image.open(written[0]) as grid:
        assert grid.format == "PNG" and grid.size == (8 + 4 * (192 + 8), 8 + 192 + 34 + 8)

    assert main(["search", str(index), str(gallery / "rocket.jpg"), "--topk", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("rocket.jpg") and "1. " in lines[1] and lines[1].rstrip().endswith("rocket.jpg")


def test_faiss_hnsw_index_ranks_like_the_exact_one(small_index, tmp_path, capsys):
    gallery, exact_index = small_index
    hnsw_index = tmp_path / "hnsw"
    summary = _index_summary(capsys, str(gallery), "--out", str(hnsw_index), "--index-type", "HNSW32")
    assert summary["count"] == len(PHOTOS)
    queries = [str(p) for p in sorted(gallery.iterdir())]
    rankings = []
    for index in (exact_index, hnsw_index):
        assert main(["search", str(index), *queries, "--topk", "4", "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        rankings.append([[m["id"] for m in entry["matches"]] for entry in payload])
    assert rankings[0] == rankings[1]
    assert [ranking[0] for ranking in rankings[0]] == [Path(q).name for q in queries]
