"""Indexes written before back ends and checksums existed (commit 0e114b4) open, search and update unchanged."""
import json
import shutil
from pathlib import Path

import numpy as np

from imret.index import GalleryIndex, open_index

FIXTURE = Path(__file__).parent / "data" / "index_0e114b4"
VECTORS = Path(__file__).parent / "data" / "index_0e114b4_vectors.npy"


def test_index_written_by_0e114b4_opens_and_searches(tmp_path):
    root = tmp_path / "old"
    shutil.copytree(FIXTURE, root)
    before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    index = open_index(str(root))
    assert isinstance(index, GalleryIndex) and len(index) == 6 and index.dim == 8
    assert index.provenance["model"] == "tiny" and index.index_type == "Flat"
    vectors = np.load(VECTORS)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"class{i % 2}/{i:02d}.jpg" for i in range(6)]
    np.testing.assert_allclose(index.get_vectors(ids), unit, atol=1e-6)
    assert index.get_metadata([ids[3]])[0] == {"id": ids[3], "path": "/gallery/class1/03.jpg", "label": "class1",
                                               "size": 103, "mtime": 1700000000.5 + 3, "sha256": f"{3:064x}",
                                               "note": "extra 3"}
    for backend in ("exact", "faiss"):
        assert [row[0] for row in index.search(vectors, 1, backend=backend).ids] == ids
    assert {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()} == before  # read-only

    # saving it again keeps the layout and file names, adding only the checksums to the manifest
    writable = open_index(str(root), writable=True)
    writable.upsert(["new.jpg"], np.ones((1, 8), np.float32), [{"label": "x"}])
    writable.commit()
    version = root / json.loads((root / "CURRENT").read_text())["version"]
    assert sorted(p.name for p in version.iterdir()) == ["faiss.index", "ids.json", "manifest.json",
                                                         "metadata.sqlite", "vectors.safetensors"]
    old_manifest = json.loads((FIXTURE / "v000002-b44017a4" / "manifest.json").read_text())
    new_manifest = json.loads((version / "manifest.json").read_text())
    assert set(new_manifest) - set(old_manifest) == {"checksums"}
    assert set(new_manifest["checksums"]) == {"faiss.index", "ids.json", "metadata.sqlite", "vectors.safetensors"}
    assert json.loads((version / "ids.json").read_text()) == ids + ["new.jpg"]  # still a plain list of strings
    assert len(open_index(str(root))) == 7
