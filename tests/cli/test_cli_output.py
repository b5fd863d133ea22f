"""Output for scripts: results on stdout, JSON everywhere with one path rule, quiet stderr, progress only
on a terminal or when asked, and never carriage-return frames in redirected stderr."""
from __future__ import annotations

import io
import json
import os
import shutil

import pytest

from imret.cli.main import main

from cli_helpers import PHOTOS


def test_models_table_and_json(capsys):
    from imret.apis.zoo import DEFAULT_MODEL, ZOO

    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["NAME", "DIM", "OFFLINE"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == set(ZOO)
    assert "(default)" in rows[DEFAULT_MODEL]
    assert rows["efficientnet-lite0_gem"].split()[2:4] == ["1280", "yes"]  # name, (default), dim, offline

    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in listed] == sorted(ZOO)
    by_name = {row["name"]: row for row in listed}
    assert by_name["efficientnet-lite0_gem"]["offline"] is True
    assert by_name["efficientnet-lite0_gem"]["dim"] == 1280
    assert by_name["resnet50-arcface_inshop"]["dim"] == 2048
    assert [row["name"] for row in listed if row["default"]] == [DEFAULT_MODEL]
    assert all(set(row) == {"name", "what", "dim", "weights", "offline", "default"} for row in listed)


def test_arcface_offline_flag_follows_the_weights_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMRET_WEIGHTS_DIR", str(tmp_path))
    assert main(["models", "--json"]) == 0
    row = {r["name"]: r for r in json.loads(capsys.readouterr().out)}["resnet50-arcface_inshop"]
    assert row["offline"] is False and str(tmp_path) in row["weights"]
    (tmp_path / "resnet50-arcface_inshop_20230202-b766fe7f.pth").write_bytes(b"placeholder")
    assert main(["models", "--json"]) == 0
    row = {r["name"]: r for r in json.loads(capsys.readouterr().out)}["resnet50-arcface_inshop"]
    assert row["offline"] is True


def test_index_list_models_needs_no_gallery(capsys):
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    assert main(["index", "--list-models"]) == 0
    assert capsys.readouterr().out == table
    assert main(["index", "--list-models", "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == [line.split()[0] for line in
                                                                            table.splitlines()[1:]]


def test_search_json_path_rule(small_index, capsys, monkeypatch):
    gallery, index = small_index
    monkeypatch.chdir(gallery.parent)
    query = os.path.join(gallery.name, PHOTOS[1])  # relative, as a user would type it
    assert main(["search", str(index), query, "--json", "--topk", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # not a terminal: no status lines, no progress
    result = json.loads(captured.out)
    assert result[0]["query"] == query
    assert result[0]["query_abs"] == os.path.abspath(query)
    for match in result[0]["matches"]:
        assert not os.path.isabs(match["id"])
        assert match["path"] == os.path.join(os.path.abspath(gallery), match["id"])
    assert result[0]["matches"][0]["id"] == PHOTOS[1]


def test_index_json_path_rule_and_quiet(small_index, tmp_path, capsys, monkeypatch):
    gallery, _ = small_index
    monkeypatch.chdir(tmp_path)
    shutil.copytree(gallery, "photos")
    assert main(["index", "photos", "--out", "photos.idx", "--json", "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    summary = json.loads(captured.out)
    assert (summary["gallery"], summary["index"]) == ("photos", "photos.idx")
    assert summary["gallery_abs"] == str(tmp_path / "photos")
    assert summary["index_abs"] == str(tmp_path / "photos.idx")


def test_progress_only_when_asked_and_never_carriage_returns(small_index, tmp_path, capsys):
    gallery, _ = small_index
    copy = tmp_path / "photos"
    shutil.copytree(gallery, copy)
    assert main(["index", str(copy), "--out", str(tmp_path / "a.idx")]) == 0
    err = capsys.readouterr().err
    assert err == "", "stderr is not a terminal: no progress bar and no status line by default"

    assert main(["index", str(copy), "--out", str(tmp_path / "b.idx"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert "imret index: loading model efficientnet-lite0_gem ..." in lines
    assert any(line.startswith(f"encoding: {len(PHOTOS)}/{len(PHOTOS)}") for line in lines), lines


def test_terminal_gets_an_animated_bar():
    from imret.utils.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, redirected = Terminal(), io.StringIO()
    for stream in (terminal, redirected):
        bar = progress_bar(3, "encoding", stream=stream)
        for _ in range(3):
            bar.update(1)
        bar.close()
    assert "\r" in terminal.getvalue()
    assert "\r" not in redirected.getvalue() and "encoding: 3/3" in redirected.getvalue()
    assert progress_bar(3, "encoding", enabled=False, stream=redirected).disable


def test_json_is_strict(capsys):
    from imret.cli.output import print_json

    print_json({"score": float("nan"), "scores": [1.5, float("inf"), -float("inf")], "name": "x"})
    assert json.loads(capsys.readouterr().out) == {"score": None, "scores": [1.5, None, None], "name": "x"}


@pytest.mark.parametrize("flags, shows_status", [([], False), (["--progress"], True), (["-v"], True),
                                                 (["-q", "--progress"], False)])
def test_status_lines_follow_the_output_flags(flags, shows_status):
    import argparse

    from imret.cli.output import add_global_options, configure_output, status

    parser = argparse.ArgumentParser()
    add_global_options(parser)
    args = parser.parse_args(flags)
    args.command = "index"
    stream = io.StringIO()
    configure_output(args, stream)
    status("loading model %s ...", "m")
    assert (stream.getvalue() == "imret index: loading model m ...\n") is shows_status
    assert shows_status or stream.getvalue() == ""
