"""Bad input: one clear line on stderr, exit code 1, and the index left byte-for-byte unchanged."""
from __future__ import annotations

import pytest

from imret.cli.main import main

from cli_helpers import imret, tree_hashes


def _one_error_line(stderr: str, command: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    assert lines[0].startswith(f"imret {command}: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_query_that_is_not_an_image_subprocess(small_index, tmp_path):
    gallery, index = small_index
    before = tree_hashes(index)
    text = tmp_path / "notes.jpg"
    text.write_text("this is text, not a picture")
    result = imret("search", index, text, "--json")
    assert result.returncode == 1
    line = _one_error_line(result.stderr, "search")
    assert "notes.jpg" in line and "not a readable image" in line
    assert result.stdout == ""
    assert tree_hashes(index) == before


def test_index_with_another_model_subprocess(small_index):
    gallery, index = small_index
    before = tree_hashes(index)
    result = imret("index", gallery, "--out", index, "--model", "efficientnet-lite0_avg")
    assert result.returncode == 1
    line = _one_error_line(result.stderr, "index")
    assert "another model" in line and "--rebuild" in line and "efficientnet-lite0_gem" in line
    assert tree_hashes(index) == before


def test_search_with_another_model(small_index, capsys):
    gallery, index = small_index
    before = tree_hashes(index)
    query = sorted(gallery.iterdir())[0]
    assert main(["search", str(index), str(query), "--model", "efficientnet-lite0_avg"]) == 1
    line = _one_error_line(capsys.readouterr().err, "search")
    assert "another model" in line
    assert tree_hashes(index) == before


def test_missing_index(small_index, tmp_path, capsys):
    gallery, _ = small_index
    query = sorted(gallery.iterdir())[0]
    assert main(["search", str(tmp_path / "no_such_index"), str(query)]) == 1
    line = _one_error_line(capsys.readouterr().err, "search")
    assert "no_such_index" in line and "imret index" in line
    assert not (tmp_path / "no_such_index").exists()


def test_missing_query_file(small_index, tmp_path, capsys):
    _, index = small_index
    before = tree_hashes(index)
    assert main(["search", str(index), str(tmp_path / "ghost.png")]) == 1
    assert "ghost.png" in _one_error_line(capsys.readouterr().err, "search")
    assert tree_hashes(index) == before


def test_empty_gallery_folder(small_index, tmp_path, capsys):
    _, index = small_index
    before = tree_hashes(index)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    assert main(["index", str(empty), "--out", str(index)]) == 1
    assert "contains no images" in _one_error_line(capsys.readouterr().err, "index")
    assert tree_hashes(index) == before
    assert main(["index", str(empty), "--out", str(tmp_path / "new_index")]) == 1
    assert not (tmp_path / "new_index").exists()


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["index", "somewhere"])  # --out is required
    assert caught.value.code == 2
    with pytest.raises(SystemExit) as caught:
        main(["search", "index_only"])  # at least one query
    assert caught.value.code == 2


@pytest.mark.parametrize("command", ["index", "search", "demo", "serve"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    assert f"usage: imret {command}" in capsys.readouterr().out
