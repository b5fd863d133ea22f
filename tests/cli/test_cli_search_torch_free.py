"""A one-image ``imret search`` with a non-torch runtime loads neither torch nor timm nor mmengine, and
ranks exactly as the same search done with the torch runtime (real UKBench images); ``imret index`` with
the graph cached loads none of them either."""
from __future__ import annotations

import json
import shutil

import numpy as np

from imret.cli.main import main

from test_cli_startup import _run_main

NOT_LOADED = ("torch", "timm", "mmengine", "imret.models", "imret.engine")


def _matches(stdout: str) -> list[list[tuple[str, float]]]:
    return [[(m["id"], m["score"]) for m in found["matches"]] for found in json.loads(stdout)]


def test_search_loads_no_torch_and_ranks_like_the_torch_runtime(shared_datasets_root, tmp_path):
    source = shared_datasets_root / "ukbench"
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for number in range(8):  # objects 0 and 1
        shutil.copyfile(source / f"ukbench{number:05d}.jpg", gallery / f"ukbench{number:05d}.jpg")
    index = tmp_path / "index"
    assert main(["index", str(gallery), "--out", str(index), "--no-progress", "-q"]) == 0
    queries = [source / f"ukbench{number:05d}.jpg" for number in (8, 1, 6)]

    code, _, stdout, stderr, _ = _run_main(["search", index, *queries, "--json", "--topk", "8", "--runtime", "torch"],
                                           ())
    assert code == 0, stderr
    reference = _matches(stdout)
    # query 1 is in the gallery: itself first, then the other views of object 0
    assert reference[1][0][0] == "ukbench00001.jpg"
    assert {name for name, _ in reference[1][:4]} == {f"ukbench{n:05d}.jpg" for n in range(4)}
    # with the graph cached, indexing another folder needs no torch either
    code, loaded, _, stderr, _ = _run_main(["index", gallery, "--out", tmp_path / "index2", "-q", "--no-progress"],
                                           NOT_LOADED)
    assert code == 0 and loaded == {}, (stderr, loaded)
    for runtime, shown in (("auto", "openvino"), ("onnxruntime", "onnxruntime")):
        code, loaded, stdout, stderr, _ = _run_main(
            ["search", index, *queries, "--json", "--topk", "8", "--runtime", runtime, "--timings"], NOT_LOADED)
        assert code == 0, stderr
        assert loaded == {}, f"imret search --runtime {runtime} imported {loaded}"
        assert f"(runtime {shown})" in stderr and "search " in stderr
        found = _matches(stdout)
        for mine, theirs in zip(found, reference):
            assert [name for name, _ in mine] == [name for name, _ in theirs]
            np.testing.assert_allclose([s for _, s in mine], [s for _, s in theirs], atol=1e-4)
