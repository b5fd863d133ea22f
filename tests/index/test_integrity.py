"""Index integrity: manifest field types, checksums (cheap on open, full in verify), bad vectors refused."""
import json
import os
import struct

import numpy as np
import pytest

from imret.index import GalleryIndex, IndexFormatError
from imret.index.verify import verify_index

PROVENANCE = {"model": "tiny", "weights_sha256": "ab" * 32}


def saved(tmp_path, n=20, dim=8, metric="cosine_similarity", index_type=None, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"img{i:03d}.png" for i in range(n)]
    index = GalleryIndex.create(str(tmp_path / "idx"), dim, metric=metric, provenance=PROVENANCE,
                                index_type=index_type)
    index.add(ids, vectors, [{"path": f"/g/{key}", "size": i} for i, key in enumerate(ids)])
    index.save()
    root = tmp_path / "idx"
    return root, root / json.loads((root / "CURRENT").read_text())["version"], ids, vectors


def data_offset(vectors_file):
    with open(vectors_file, "rb") as fh:
        return 8 + struct.unpack("<Q", fh.read(8))[0]


def overwrite_row(vectors_file, row, dim, values):
    with open(vectors_file, "r+b") as fh:
        fh.seek(data_offset(vectors_file) + row * dim * 4)
        fh.write(np.asarray(values, np.float32).tobytes())


BAD_FIELDS = [
    ("dim", "8"), ("dim", 0), ("dim", True), ("count", -1), ("count", 2.0), ("metric", 3), ("metric", "hamming"),
    ("dtype", "int8"), ("provenance", []), ("format_version", True), ("format_version", "1"),
    ("index_type", 5), ("index_type", ""), ("backend", "annoy"), ("faiss_params", {"nprobe": "many"}),
    ("faiss_params", []), ("faiss_stale", "no"), ("imret_version", 1), ("created", None),
    ("checksums", {"ids.json": {"size": 1}}), ("checksums", {"other.bin": {"size": 1, "sha256": "0" * 64}}),
    ("checksums", {"ids.json": {"size": "2", "sha256": "0" * 64}}), ("checksums", []),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_manifest_field_of_wrong_type_is_an_index_format_error(tmp_path, field, value):
    root, version, *_ = saved(tmp_path, n=3)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest[field] = value
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match=rf"manifest.json: manifest field '{field}' must be"):
        GalleryIndex.open(str(root))
    assert [p for p in verify_index(str(root)).problems if "manifest.json" in p]


def test_manifest_records_checksums_and_verify_accepts_a_sound_index(tmp_path):
    root, version, *_ = saved(tmp_path, index_type="Flat")
    checksums = json.loads((version / "manifest.json").read_text())["checksums"]
    assert sorted(checksums) == ["faiss.index", "ids.json", "metadata.sqlite", "vectors.safetensors"]
    for name, entry in checksums.items():
        import hashlib
        data = (version / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    report = verify_index(str(root))
    assert report.problems == [] and report.notes == []


def test_swapped_ids_are_detected_on_open_and_by_verify(tmp_path):
    root, version, ids, _ = saved(tmp_path)
    swapped = list(ids)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    (version / "ids.json").write_text(json.dumps(swapped, indent=1))  # same size, same set of ids
    assert (version / "ids.json").stat().st_size == json.loads((version / "manifest.json").read_text())[
        "checksums"]["ids.json"]["size"]
    with pytest.raises(IndexFormatError, match=r"ids.json: checksum mismatch"):
        GalleryIndex.open(str(root))
    problems = verify_index(str(root)).problems
    assert len(problems) == 1 and "ids.json: checksum mismatch" in problems[0]


@pytest.mark.parametrize("name", ["metadata.sqlite", "vectors.safetensors", "faiss.index"])
def test_truncated_or_changed_files_are_named(tmp_path, name):
    root, version, *_ = saved(tmp_path, index_type="Flat")
    path = version / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size: only the full check (verify) can see it
    path.write_bytes(bytes(data))
    problems = verify_index(str(root)).problems
    assert any(f"{name}: checksum mismatch" in p for p in problems), problems
    path.write_bytes(bytes(data[:-8]))  # shorter: the cheap check on open sees it
    with pytest.raises(IndexFormatError, match=rf"{name}: \d+ bytes, the manifest records"):
        GalleryIndex.open(str(root))


def test_nan_and_huge_rows_written_into_the_file_are_refused_at_search_and_reported(tmp_path):
    root, version, ids, vectors = saved(tmp_path)
    vectors_file = version / "vectors.safetensors"
    overwrite_row(vectors_file, 3, 8, np.full(8, np.nan))
    index = GalleryIndex.open(str(root))  # the cheap open checks sizes, not every value
    with pytest.raises(IndexFormatError, match=r"vectors.safetensors: search gave non-finite scores"):
        index.search(vectors[:2], 5)
    problems = verify_index(str(root)).problems
    assert any("vectors.safetensors: checksum mismatch" in p for p in problems)
    assert any("vector of id 'img003.png' (row 3) is not finite" in p for p in problems)

    overwrite_row(vectors_file, 3, 8, np.full(8, 1e30))  # a huge row would win every cosine query
    with pytest.raises(IndexFormatError, match="cosine scores above 1"):
        GalleryIndex.open(str(root)).search(vectors[:2], 5)
    assert any("'img003.png' (row 3) has length" in p for p in verify_index(str(root)).problems)


def test_vectors_are_validated_and_normalised_on_add(tmp_path):
    index = GalleryIndex.create(str(tmp_path / "cos"), 4, provenance=PROVENANCE, index_type=None)
    huge = np.array([[1e30, 2e30, 0, 0]], np.float32)
    index.add(["huge"], huge)  # normalised without overflow
    np.testing.assert_allclose(index.get_vectors(["huge"]), [[1 / 5 ** 0.5, 2 / 5 ** 0.5, 0, 0]], rtol=1e-6)
    with pytest.raises(ValueError, match="'zero' is zero"):
        index.add(["zero"], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        index.upsert(["huge"], np.array([[np.inf, 0, 0, 0]]))
    with pytest.raises(ValueError, match="metadata 'mtime' of id 'm' must be a finite number"):
        index.add(["m"], np.ones((1, 4)), [{"mtime": float("nan")}])
    with pytest.raises(ValueError, match="metadata of id 'm' is not storable as JSON"):
        index.add(["m"], np.ones((1, 4)), [{"extra": float("inf")}])
    assert list(index.iter_ids()) == ["huge"]

    half = GalleryIndex.create(str(tmp_path / "half"), 4, metric="dot_product", dtype="float16", index_type=None)
    with pytest.raises(ValueError, match="'big' overflows float16"):
        half.add(["big"], np.array([[1e6, 0, 0, 0]]))


def test_verify_notes_an_index_without_checksums_and_leftovers(tmp_path):
    import shutil
    root = tmp_path / "old"
    shutil.copytree(os.path.join(os.path.dirname(__file__), "data", "index_0e114b4"), root)
    (root / ".tmp-v000009-00000000").mkdir()
    report = verify_index(str(root))
    assert report.problems == []
    assert any("no checksums recorded" in n for n in report.notes)
    assert any(".tmp-v000009-00000000: left by an interrupted save" in n for n in report.notes)
