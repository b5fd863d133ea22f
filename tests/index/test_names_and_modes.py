"""Names that are not UTF-8 survive storage exactly; every file an index save writes follows the umask."""
import json
import os
import sqlite3
import stat

import numpy as np
import pytest

from imret.index import GalleryIndex, open_index, sync_folder
from imret.index.names import from_json_name, name_fields, to_json_name
from imret.utils.atomic import atomic_output
from imret.utils.json_output import dump_json

CAFE = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8, a surrogate escape in memory
ODD = [CAFE, os.fsdecode(b"dir\xff/x\x80y.jpg"), "ascii.png", "日本.png", '{"b64": "x"}', "b64:AAAA"]


def test_ids_paths_and_labels_round_trip_exactly(tmp_path):
    root = str(tmp_path / "idx")
    index = GalleryIndex.create(root, 3, metric="dot_product", provenance={"model": "m"}, index_type=None)
    meta = [{"path": "/g/" + key, "label": os.path.dirname(key) or None, "note": key} for key in ODD]
    index.add(ODD, np.arange(18, dtype=np.float32).reshape(6, 3), meta)
    index.save()
    again = open_index(root)
    assert list(again.iter_ids()) == ODD
    assert [os.fsencode(i) for i in again.iter_ids()][0] == b"caf\xe9.png"
    got = again.get_metadata(ODD)
    assert [m["path"] for m in got] == ["/g/" + key for key in ODD]
    assert got[1]["label"] == os.fsdecode(b"dir\xff") and [m["note"] for m in got] == ODD
    np.testing.assert_array_equal(again.get_vectors([CAFE]), [[0, 1, 2]])
    assert again.search(np.array([[0, 0, 1.0]]), 6).ids[0][0] == ODD[-1]
    # the documented forms: ids.json keeps text names as strings, other names as {"b64": ...}; SQLite a BLOB
    version = os.path.join(root, json.load(open(os.path.join(root, "CURRENT")))["version"])
    stored = json.load(open(os.path.join(version, "ids.json")))
    assert stored[0] == {"b64": "Y2Fm6S5wbmc="} and stored[2:] == ODD[2:]
    rows = dict(sqlite3.connect(os.path.join(version, "metadata.sqlite")).execute("SELECT path, id FROM items"))
    assert rows[b"/g/caf\xe9.png"] == b"caf\xe9.png" and rows["/g/ascii.png"] == "ascii.png"
    again.remove([CAFE])
    again.commit()
    assert CAFE not in open_index(root) and len(open_index(root)) == 5


def test_json_name_forms_and_strict_json_output():
    for name in ODD:
        assert from_json_name(json.loads(json.dumps(to_json_name(name)))) == name
    assert name_fields("path", CAFE) == {"path": "caf\\xe9.png", "path_b64": "Y2Fm6S5wbmc="}
    assert name_fields("path", "日本.png") == {"path": "日本.png"}
    with pytest.raises(ValueError, match="not valid text"):
        dump_json({"path": CAFE})
    with pytest.raises(ValueError):
        dump_json({"score": float("nan")})
    assert json.loads(dump_json(name_fields("id", CAFE)))["id_b64"] == "Y2Fm6S5wbmc="


def test_sync_indexes_a_non_utf8_file_name_without_failing_the_run(tmp_path):
    from PIL import Image
    folder = tmp_path / "gallery"
    folder.mkdir()
    for name, seed in ((b"caf\xe9.png", 0), (b"plain.png", 1)):
        Image.fromarray(np.random.default_rng(seed).integers(0, 256, (4, 4, 3), np.uint8)).save(
            os.path.join(os.fsencode(str(folder)), name))
    (folder / "broken.png").write_bytes(b"not a png")

    def encode(paths):
        vectors, failed = [], {}
        for path in paths:
            try:
                vectors.append(np.asarray(Image.open(path).convert("RGB"), np.float32).reshape(-1) + 1)
            except Exception as exc:
                failed[path] = str(exc)
        return np.stack(vectors), failed

    report = sync_folder(str(tmp_path / "idx"), str(folder), encode, {"model": "pixels"}, progress=False)
    assert (report.added, report.encoded, list(report.failed)) == (2, 2, [str(folder / "broken.png")])
    index = open_index(str(tmp_path / "idx"))
    assert sorted(index.iter_ids()) == sorted([CAFE, "plain.png"])
    assert os.fsencode(index.get_metadata([CAFE])[0]["path"]) == os.path.join(os.fsencode(str(folder)), b"caf\xe9.png")
    before = sorted(os.listdir(tmp_path / "idx"))
    again = sync_folder(str(tmp_path / "idx"), str(folder), encode, {"model": "pixels"}, progress=False)
    assert again.unchanged == 2 and again.encoded == 0
    assert sorted(os.listdir(tmp_path / "idx")) == before  # nothing changed: nothing written


def modes(root):
    out = {}
    for base, dirs, files in os.walk(root):
        for name in files + dirs:
            path = os.path.join(base, name)
            out[os.path.relpath(path, root)] = stat.S_IMODE(os.stat(path).st_mode)
    return out


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_file_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        root = str(tmp_path / "idx")
        index = GalleryIndex.create(root, 4, provenance={"model": "m"}, index_type="Flat")
        index.add(["a", "b"], np.eye(2, 4))
        index.save()
        with atomic_output(tmp_path / "grid.png") as tmp:
            open(tmp, "wb").write(b"png")
    finally:
        os.umask(old)
    found = modes(root)
    assert {"CURRENT", "manifest.json", "ids.json", "metadata.sqlite", "vectors.safetensors", "faiss.index"} <= {
        os.path.basename(k) for k in found}
    for name, mode in found.items():
        want = (0o777 if os.path.isdir(os.path.join(root, name)) else 0o666) & ~umask
        assert mode == want, (name, oct(mode), oct(want))
    assert stat.S_IMODE(os.stat(tmp_path / "grid.png").st_mode) == 0o666 & ~umask


def test_index_directories_with_awkward_names(tmp_path):
    for name in (b"a?b#c%20d", b"caf\xe9 dir", b"file:x"):
        root = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), name, b"idx"))
        index = GalleryIndex.create(root, 4, provenance={"model": "m"}, index_type="Flat")
        index.add(["a", "b"], np.eye(2, 4), [{"label": "x"}, {"label": "y"}])
        index.save()
        again = open_index(root)
        assert again.get_metadata(["b"])[0]["label"] == "y"
        assert again.search(np.eye(1, 4), 1, backend="faiss").ids == [["a"]]
