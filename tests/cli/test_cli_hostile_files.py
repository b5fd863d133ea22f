"""FIFOs and tiny-image bombs through `imret index`, `imret search` and the inferencer: skipped or refused, fast."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imret.cli.main import main

from cli_helpers import IMRET, PHOTOS, copy_photos, imret
from hostile_images import blank_png, finishes_within, make_fifo

BOMBS = {"thin4000.png": (4000, 1), "thin40000.png": (40000, 1), "huge12500.png": (12500, 12500)}
# peak RSS of a whole `imret index` run (torch + model + 2 photos is ~0.6-0.9 GB); the 4000x1 PNG
# alone cost +2.5 GB and the 40000x1 one ~8 GB before the limits
PEAK_RSS_BOUND_KB = 1600 * 1024

MEASURED_RUN = textwrap.dedent("""
    import json, resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
    print(json.dumps({"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
""")


def _hostile_gallery(folder: Path) -> Path:
    copy_photos(folder, PHOTOS[:2])
    for name, (width, height) in BOMBS.items():
        (folder / name).write_bytes(blank_png(width, height))
    make_fifo(folder / "pipe.jpg")
    return folder


def _skipped_lines(stderr: str) -> dict[str, str]:
    lines = {}
    for line in stderr.splitlines():
        for name in [*BOMBS, "pipe.jpg"]:
            if name in line:
                lines[name] = line
    return lines


def test_index_skips_fifo_and_bombs_with_bounded_memory(tmp_path):
    gallery = _hostile_gallery(tmp_path / "gallery")
    assert IMRET.is_file()
    measured = subprocess.run(
        [sys.executable, "-c", MEASURED_RUN, str(IMRET), "index", str(gallery), "--out", str(tmp_path / "index"),
         "--json", "--no-progress"], capture_output=True, text=True, timeout=600)
    run = json.loads(measured.stdout)
    assert run["rc"] == 0, run["stderr"]
    summary = json.loads(run["stdout"])
    assert summary["count"] == 2 and summary["failed"] == 4
    lines = _skipped_lines(run["stderr"])
    assert "FIFO" in lines["pipe.jpg"]
    assert "1024000x256" in lines["thin4000.png"] and "10240000x256" in lines["thin40000.png"]
    assert "156250000" in lines["huge12500.png"].replace(",", "")
    assert "Traceback" not in run["stderr"]
    assert run["maxrss_kb"] < PEAK_RSS_BOUND_KB, run["maxrss_kb"]


def test_search_skips_a_fifo_in_a_query_folder(small_index, tmp_path):
    _, index = small_index
    queries = tmp_path / "queries"
    copy_photos(queries, PHOTOS[:1])
    make_fifo(queries / "pipe.jpg")
    result = imret("search", index, queries, "--json", timeout=600)
    assert result.returncode == 0, result.stderr
    assert [Path(item["query"]).name for item in json.loads(result.stdout)] == [PHOTOS[0]]
    line = next(line for line in result.stderr.splitlines() if "pipe.jpg" in line)
    assert line.startswith("imret search: skipped") and "FIFO" in line


def test_search_refuses_a_fifo_query_in_one_line(small_index, tmp_path):
    _, index = small_index
    fifo = make_fifo(tmp_path / "q.jpg")
    result = imret("search", index, fifo, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imret search: error:")
    assert "q.jpg" in lines[0] and "FIFO" in lines[0] and "does not exist" not in lines[0]


@pytest.mark.parametrize("name", list(BOMBS))
def test_search_refuses_a_bomb_query_in_one_line(small_index, tmp_path, capsys, name):
    _, index = small_index
    query = tmp_path / name
    query.write_bytes(blank_png(*BOMBS[name]))
    done, code = finishes_within(120, lambda: main(["search", str(index), str(query)]))
    assert done and code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "not a readable image" in err[0]


def test_inferencer_skips_fifo_and_bombs_in_the_prototype_folder(tmp_path, capsys):
    from imret.apis import ImageRetrievalInferencer, get_model

    gallery = _hostile_gallery(tmp_path / "prototype")
    model = get_model("efficientnet-lite0_gem")
    done, inferencer = finishes_within(300, lambda: ImageRetrievalInferencer(model, prototype=str(gallery)))
    assert done, "the inferencer hung on its prototype folder"
    assert not isinstance(inferencer, BaseException), inferencer
    assert sorted(Path(s["img_path"]).name for s in inferencer.prototype_samples) == sorted(PHOTOS[:2])
    err = capsys.readouterr().err
    assert "pipe.jpg" in err and "FIFO" in err
    for name in BOMBS:
        assert name in err
    with pytest.raises(ValueError, match="FIFO"):
        inferencer(str(gallery / "pipe.jpg"))
