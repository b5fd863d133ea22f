"""End to end on real photos: `imret index` then `imret search --json` on a UKBench subset (subprocesses)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_helpers import imret

UKBENCH = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "ukbench"
NUM_IMAGES = 80  # 20 objects x 4 views
NUM_QUERIES = 20


@pytest.fixture(scope="module")
def ukbench_subset(tmp_path_factory) -> Path:
    if not UKBENCH.is_dir():
        pytest.skip(f"UKBench not found at {UKBENCH}: this test needs the project's ../shared/datasets "
                    "checkout beside the repository")
    folder = tmp_path_factory.mktemp("ukbench") / "gallery"
    folder.mkdir()
    for number in range(NUM_IMAGES):
        name = f"ukbench{number:05d}.jpg"
        os.symlink(UKBENCH / name, folder / name)  # read in place: the data is never copied
    return folder


def _object(path: str) -> int:
    return int(Path(path).stem.replace("ukbench", "")) // 4


def test_index_then_search_finds_the_same_object(ukbench_subset, tmp_path):
    index = tmp_path / "index"
    built = imret("index", ukbench_subset, "--out", index, "--json", "--no-progress")
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout.strip().splitlines()[-1])
    assert (summary["count"], summary["encoded"], summary["failed"]) == (NUM_IMAGES, NUM_IMAGES, 0)

    # one query per object, a different view each time
    queries = [ukbench_subset / f"ukbench{4 * j + j % 4:05d}.jpg" for j in range(NUM_QUERIES)]
    found = imret("search", index, *queries, "--topk", "4", "--json")
    assert found.returncode == 0, found.stderr
    payload = json.loads(found.stdout)
    assert [Path(entry["query"]).name for entry in payload] == [q.name for q in queries]

    same_in_top4, other_view_found = [], 0
    for entry in payload:
        matches = entry["matches"]
        assert [m["rank"] for m in matches] == [1, 2, 3, 4]
        assert all(set(m) >= {"path", "score", "rank"} for m in matches)
        assert all(Path(m["path"]).name.startswith("ukbench") and Path(m["path"]).exists() for m in matches)
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True)
        target = _object(entry["query"])
        hits = [m for m in matches if _object(m["path"]) == target]
        same_in_top4.append(len(hits))
        other_view_found += any(Path(m["path"]).name != Path(entry["query"]).name for m in hits)
    ns_score = sum(same_in_top4) / len(same_in_top4)
    chance = 4 * 4 / NUM_IMAGES  # expected same-object images among 4 random picks
    assert ns_score >= 2.5, f"N-S score {ns_score:.2f} on the subset (chance {chance:.2f})"
    assert other_view_found / len(payload) >= 0.8
