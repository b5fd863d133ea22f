"""`--runtime`/`--device` on index and search, `imret export`, bundles as --model; bad input exits 1."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from imret.cli.main import main


@pytest.fixture(scope="module")
def ukbench_index(tmp_path_factory, shared_root):
    """8 UKBench photos (2 objects x 4 views) indexed with the torch runtime: (gallery, index)."""
    root = tmp_path_factory.mktemp("cli-runtimes")
    gallery = root / "gallery"
    gallery.mkdir()
    for i in range(8):
        name = f"ukbench{i:05d}.jpg"
        (gallery / name).write_bytes((shared_root / "ukbench" / name).read_bytes())
    assert main(["index", str(gallery), "--out", str(root / "index"), "--runtime", "torch", "--device", "cpu",
                 "--no-progress"]) == 0
    return gallery, root / "index"


def _search(capsys, index: Path, queries: list[str], *options: str) -> list[list[tuple[str, float]]]:
    assert main(["search", str(index), *queries, "--topk", "4", "--json", *options]) == 0
    payload = json.loads(capsys.readouterr().out)
    return [[(Path(m["path"]).name, m["score"]) for m in entry["matches"]] for entry in payload]


def _error_line(capsys, argv: list[str], command: str) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"imret {command}: error: "), lines
    return lines[0]


def test_index_built_with_torch_is_searched_with_every_runtime(ukbench_index, capsys):
    gallery, index = ukbench_index
    queries = [str(gallery / "ukbench00000.jpg"), str(gallery / "ukbench00005.jpg")]
    reference = _search(capsys, index, queries, "--runtime", "torch")
    # the 4 views of the query's object come first
    assert [sorted(name for name, _ in matches) for matches in reference] == [
        [f"ukbench{i:05d}.jpg" for i in range(4)], [f"ukbench{i:05d}.jpg" for i in range(4, 8)]]
    for runtime in ("onnxruntime", "openvino"):
        found = _search(capsys, index, queries, "--runtime", runtime, "--device", "cpu")
        assert [[name for name, _ in m] for m in found] == [[name for name, _ in m] for m in reference]
        for matches, expected in zip(found, reference):
            assert [score for _, score in matches] == pytest.approx([s for _, s in expected], abs=1e-3)


def test_export_bundle_searches_the_same_index(ukbench_index, tmp_path, capsys):
    gallery, index = ukbench_index
    bundle = tmp_path / "bundle"
    assert main(["export", "efficientnet-lite0_gem", "--out", str(bundle)]) == 0
    assert "exported efficientnet-lite0_gem" in capsys.readouterr().out
    queries = [str(gallery / "ukbench00002.jpg")]
    reference = _search(capsys, index, queries, "--runtime", "torch")
    found = _search(capsys, index, queries, "--model", str(bundle))
    assert [name for name, _ in found[0]] == [name for name, _ in reference[0]]
    # a non-empty --out is refused and left as it was
    line = _error_line(capsys, ["export", "efficientnet-lite0_gem", "--out", str(bundle)], "export")
    assert "not an empty folder" in line
    assert sorted(p.name for p in bundle.iterdir()) == ["encoder.onnx", "manifest.json", "preprocessing.json",
                                                        "provenance.json"]


def test_bad_runtime_device_or_bundle_is_one_line_and_writes_nothing(ukbench_index, tmp_path, capsys):
    gallery, index = ukbench_index
    out = tmp_path / "new-index"
    line = _error_line(capsys, ["index", str(gallery), "--out", str(out), "--runtime", "tensorrt"], "index")
    assert "unknown runtime 'tensorrt'" in line and "onnxruntime" in line
    line = _error_line(capsys, ["index", str(gallery), "--out", str(out), "--device", "gpu"], "index")
    assert "unknown device 'gpu'" in line
    line = _error_line(capsys, ["index", str(gallery), "--out", str(out), "--runtime", "openvino",
                                "--device", "cuda"], "index")
    assert "cannot run on device 'cuda'" in line
    assert not out.exists()
    query = str(gallery / "ukbench00000.jpg")
    line = _error_line(capsys, ["search", str(index), query, "--runtime", "nope"], "search")
    assert "unknown runtime 'nope'" in line
    fake_bundle = tmp_path / "fake-bundle"
    fake_bundle.mkdir()
    (fake_bundle / "manifest.json").write_text("{}")
    line = _error_line(capsys, ["search", str(index), query, "--model", str(fake_bundle)], "search")
    assert "manifest" in line and "re-export" in line
    line = _error_line(capsys, ["search", str(index), query, "--model", str(tmp_path)], "search")
    assert "not an imret export bundle" in line
