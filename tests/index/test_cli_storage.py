"""`imret index`, `imret search` and `imret verify` on the storage side: targets, names, integrity, JSON."""
import base64
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import skimage

from imret.cli.main import main
from imret.index import GalleryIndex

PHOTOS = Path(skimage.__file__).parent / "data"


def strict_json(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def one_error_line(capsys, command):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"imret {command}: error: "), err
    return err[0]


def test_out_must_be_an_index_an_empty_directory_or_new(tmp_path, capsys):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    shutil.copyfile(PHOTOS / "coffee.png", gallery / "coffee.png")
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("keep me")
    for extra in ([], ["--rebuild"]):
        assert main(["index", str(gallery), "--out", str(foreign), "--no-progress", *extra]) == 1
        line = one_error_line(capsys, "index")
        assert f"{foreign} is a non-empty directory that is not an imret index; nothing was changed" in line
    assert os.listdir(foreign) == ["thesis.txt"] and (foreign / "thesis.txt").read_text() == "keep me"


@pytest.mark.slow
def test_non_utf8_names_empty_out_dir_integrity_and_strict_json(tmp_path, capsys):
    gallery, index = tmp_path / "gallery", tmp_path / "index"
    gallery.mkdir()
    index.mkdir()  # an existing empty directory is a fine --out
    cafe = os.path.join(os.fsencode(str(gallery)), b"caf\xe9.png")
    shutil.copyfile(PHOTOS / "astronaut.png", cafe)
    shutil.copyfile(PHOTOS / "chelsea.png", gallery / "chelsea.png")
    (gallery / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")

    assert main(["index", str(gallery), "--out", str(index), "--json", "--no-progress"]) == 0
    captured = capsys.readouterr()
    summary = strict_json(captured.out.strip().splitlines()[-1])
    assert (summary["encoded"], summary["failed"], summary["count"]) == (2, 1, 2)  # failures are not "encoded"
    # one line names the broken file (a first ONNX export in the session may log its own line)
    assert len([line for line in captured.err.splitlines() if "broken.png" in line]) == 1
    assert "Traceback" not in captured.err

    query = os.fsdecode(cafe)
    assert main(["search", str(index), query, "--topk", "2", "--json"]) == 0
    payload = strict_json(capsys.readouterr().out)
    assert base64.b64decode(payload[0]["query_b64"]) == cafe and payload[0]["query"].endswith("caf\\xe9.png")
    best = payload[0]["matches"][0]
    assert base64.b64decode(best["id_b64"]) == b"caf\xe9.png" and best["id"] == "caf\\xe9.png"
    assert base64.b64decode(best["path_b64"]) == cafe and abs(best["score"] - 1.0) < 1e-3
    assert payload[0]["matches"][1]["id"] == "chelsea.png" and "id_b64" not in payload[0]["matches"][1]
    assert main(["search", str(index), query, "--topk", "1"]) == 0  # the text output escapes the name
    assert capsys.readouterr().out.splitlines()[1].endswith("caf\\xe9.png")

    assert main(["verify", str(index)]) == 0
    assert capsys.readouterr().out.strip() == f"{index}: ok"

    # a NaN written into the vectors file: search refuses in one line, verify names the file
    version = index / json.loads((index / "CURRENT").read_text())["version"]
    vectors_file = version / "vectors.safetensors"
    with open(vectors_file, "r+b") as fh:
        fh.seek(8 + struct.unpack("<Q", fh.read(8))[0])
        fh.write(np.full(4, np.nan, np.float32).tobytes())
    assert main(["search", str(index), query, "--json"]) == 1
    assert "vectors.safetensors: search gave non-finite scores" in one_error_line(capsys, "search")
    assert main(["verify", str(index)]) == 1
    problems = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("imret verify: ") and "vectors.safetensors" in line for line in problems)
    assert len(problems) == 2  # the checksum and the non-finite vector


@pytest.mark.slow
def test_search_refuses_an_index_without_provenance(tmp_path, capsys):
    path = tmp_path / "api-index"
    index = GalleryIndex.create(str(path), 1280)  # the Python API may omit provenance for its own vectors
    index.add(["x"], np.ones((1, 1280)))
    index.save()
    assert main(["search", str(path), str(PHOTOS / "coffee.png")]) == 1
    assert "records no provenance" in one_error_line(capsys, "search")
