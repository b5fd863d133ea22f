"""What a killed save can leave is repaired on the next open for writing; read-only opens change nothing."""
import json
import os
import shutil

import numpy as np
import pytest

from imret.index import GalleryIndex, IndexFormatError, open_index


def listing(root):
    return sorted(os.listdir(root))


def two_versions(tmp_path):
    root = tmp_path / "idx"
    index = GalleryIndex.create(str(root), 4, metric="dot_product", provenance={"model": "m"}, index_type=None)
    index.add(["a"], np.ones((1, 4)))
    index.save()
    index.add(["b"], np.full((1, 4), 2.0))
    index.save()
    current = json.loads((root / "CURRENT").read_text())["version"]
    previous = [n for n in listing(root) if n.startswith("v") and n != current][0]
    return root, current, previous


def test_version_without_current_first_save_killed_before_the_pointer(tmp_path):
    root = tmp_path / "idx"
    index = GalleryIndex.create(str(root), 4, metric="dot_product", provenance={"model": "m"}, index_type=None)
    index.add(["a", "b"], np.eye(2, 4))
    index.save()
    os.remove(root / "CURRENT")
    for name in [n for n in listing(root) if n.startswith("v")][:-1]:
        shutil.rmtree(root / name)  # as after the very first save: one version, no pointer
    (root / ".CURRENT.x1y2.tmp").write_text("{")
    before = listing(root)
    with pytest.raises(IndexFormatError, match="interrupted save left no CURRENT.*repairs it"):
        GalleryIndex.open(str(root))
    assert listing(root) == before  # read-only: nothing changed
    repaired = open_index(str(root), writable=True)
    assert sorted(repaired.iter_ids()) == ["a", "b"]
    assert listing(root) == ["CURRENT"] + [n for n in before if n.startswith("v")]
    assert sorted(GalleryIndex.open(str(root)).ids) == ["a", "b"]


def test_current_naming_a_missing_version_falls_back_to_the_newest_intact_one(tmp_path):
    root, current, previous = two_versions(tmp_path)
    shutil.rmtree(root / current)
    with pytest.raises(IndexFormatError, match=f"CURRENT names '{current}', which is missing"):
        GalleryIndex.open(str(root))
    assert GalleryIndex.open(str(root), writable=True).ids == ["a"]
    assert json.loads((root / "CURRENT").read_text())["version"] == previous


def test_a_version_with_a_bad_checksum_is_not_chosen(tmp_path):
    root, current, previous = two_versions(tmp_path)
    os.remove(root / "CURRENT")
    ids = root / current / "ids.json"
    ids.write_text(ids.read_text().replace('"b"', '"c"'))
    assert GalleryIndex.open(str(root), writable=True).ids == ["a"]
    assert listing(root) == ["CURRENT", previous]


def test_orphans_are_removed_on_open_for_writing_only(tmp_path):
    root, current, previous = two_versions(tmp_path)
    (root / ".tmp-v000009-deadbeef").mkdir()
    (root / ".tmp-v000009-deadbeef" / "vectors.safetensors").write_bytes(b"partial")
    (root / ".CURRENT.abcd.tmp").write_text("")
    (root / "v000010-0badc0de").mkdir()  # a newer version a killed save renamed but never pointed to
    before = listing(root)
    assert GalleryIndex.open(str(root)).ids == ["a", "b"] and listing(root) == before
    assert GalleryIndex.open(str(root), writable=True).ids == ["a", "b"]
    assert listing(root) == sorted(["CURRENT", current, previous])


def test_only_leftovers_of_a_killed_first_save_mean_no_index(tmp_path):
    root = tmp_path / "idx"
    (root / ".tmp-v000001-12345678").mkdir(parents=True)
    with pytest.raises(IndexFormatError, match="interrupted save"):
        GalleryIndex.open(str(root))
    with pytest.raises(FileNotFoundError, match="empty directory"):
        GalleryIndex.open(str(root), writable=True)
    assert listing(root) == []
    index = GalleryIndex.create(str(root), 4, provenance={"model": "m"})
    assert len(index) == 0 and listing(root)[0] == "CURRENT"


def test_foreign_directories_are_never_touched(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "holiday.jpg").write_bytes(b"x")
    (root / ".tmp-v000001-12345678").mkdir()  # even names a save would use
    before = listing(root)
    with pytest.raises(IndexFormatError, match="not an imret gallery index"):
        GalleryIndex.open(str(root), writable=True)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="non-empty directory that is not an imret index; nothing"):
            GalleryIndex.create(str(root), 4, overwrite=overwrite)
    assert listing(root) == before


def test_create_accepts_an_existing_empty_directory_and_refuses_an_index(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    GalleryIndex.create(str(root), 4, provenance={"model": "m"})
    assert GalleryIndex.open(str(root)).dim == 4
    with pytest.raises(FileExistsError, match="already an index"):
        GalleryIndex.create(str(root), 4)
