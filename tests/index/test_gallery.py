"""GalleryIndex: round trips, search against brute force, stable ids, FAISS, errors."""
import json
import os

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from imret.index import GalleryIndex, IndexFormatError, UnknownIdError
from imret.matching import SIMILARITY_FUNCTIONS

PROVENANCE = {"encoder": {"type": "TIMMBackbone", "model_name": "tiny"}, "weights_sha256": "ab" * 32,
              "preprocessing": {"size": 224}, "imret_version": "0.0.test"}


def brute_force(query, vectors, metric, k):
    scores = SIMILARITY_FUNCTIONS[metric](torch.tensor(query).double(), torch.tensor(vectors).double())
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.gather(scores, 1, order).numpy(), order.numpy()


def make(tmp_path, n=50, dim=16, metric="cosine_similarity", index_type=None, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"img/{i:04d}.jpg" for i in range(n)]
    meta = [{"path": f"/data/{i}.jpg", "label": str(i % 3), "size": i, "mtime": 1.5 * i, "sha256": f"{i:064x}",
             "extra_key": [i]} for i in range(n)]
    index = GalleryIndex.create(str(tmp_path / "idx"), dim, metric=metric, provenance=PROVENANCE,
                                dtype=dtype, index_type=index_type)
    index.add(ids, vectors, meta)
    return index, ids, vectors, meta


@pytest.mark.parametrize("mmap", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_save_open_round_trip(tmp_path, mmap, dtype):
    index, ids, vectors, meta = make(tmp_path, dtype=dtype)
    queries = np.random.default_rng(9).standard_normal((4, 16)).astype(np.float32)
    before = index.search(queries, 5)
    index.save()
    again = GalleryIndex.open(str(tmp_path / "idx"), mmap=mmap)
    assert (len(again), again.ids, again.dim, again.metric) == (50, ids, 16, "cosine_similarity")
    assert again.provenance == PROVENANCE and again.dtype == dtype
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(again.vectors(), dtype=np.float32), unit,
                               atol=1e-3 if dtype == "float16" else 1e-6)
    assert again.get_metadata(["img/0007.jpg"]) == [dict(meta[7], id="img/0007.jpg")]
    after = again.search(queries, 5)
    assert after.ids == before.ids
    np.testing.assert_allclose(after.scores, before.scores, atol=1e-6)
    assert after.metadata[0][0]["id"] == after.ids[0][0]


def test_files_are_standard_formats(tmp_path):
    index, ids, vectors, _ = make(tmp_path, n=5)
    index.save()
    root = tmp_path / "idx"
    version = root / json.loads((root / "CURRENT").read_text())["version"]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["count"] == 5 and manifest["dim"] == 16 and manifest["dtype"] == "float32"
    assert manifest["provenance"] == PROVENANCE and "imret_version" in manifest and manifest["format_version"] == 1
    stored = load_file(str(version / "vectors.safetensors"))["vectors"]  # readable by safetensors itself
    np.testing.assert_allclose(stored, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine_similarity", "dot_product", "euclidean"])
def test_exact_search_equals_brute_force(tmp_path, metric):
    index, ids, vectors, _ = make(tmp_path, n=300, metric=metric)
    queries = np.random.default_rng(3).standard_normal((7, 16)).astype(np.float32)
    result = index.search(queries, 10)
    expected_scores, expected_rows = brute_force(queries, vectors, metric, 10)
    np.testing.assert_allclose(result.scores, expected_scores, atol=1e-5)
    assert result.ids == [[ids[r] for r in row] for row in expected_rows]
    assert [[m["id"] for m in row] for row in result.metadata] == result.ids


def test_k_is_clamped_and_single_query_accepted(tmp_path):
    index, ids, vectors, _ = make(tmp_path, n=6)
    result = index.search(vectors[2], 100)
    assert result.scores.shape == (1, 6) and result.ids[0][0] == ids[2]
    empty = GalleryIndex.create(str(tmp_path / "empty"), 16)
    assert empty.search(vectors[:2], 3).scores.shape == (2, 0)


def test_ids_stay_attached_to_their_vectors_across_add_remove_upsert(tmp_path):
    rng = np.random.default_rng(5)
    dim = 8
    index = GalleryIndex.create(str(tmp_path / "idx"), dim, metric="dot_product", index_type=None)
    truth: dict[str, np.ndarray] = {}
    counter = 0
    for step in range(12):
        new = [f"id-{counter + i}" for i in range(7)]
        counter += 7
        vecs = rng.standard_normal((7, dim)).astype(np.float32)
        index.add(new, vecs, [{"label": key} for key in new])
        truth.update(zip(new, vecs))
        drop = list(rng.choice(sorted(truth), 3, replace=False))
        index.remove(drop)
        for key in drop:
            del truth[key]
        change = list(rng.choice(sorted(truth), 2, replace=False)) + [f"fresh-{step}"]
        vecs = rng.standard_normal((3, dim)).astype(np.float32)
        index.upsert(change, vecs, [{"label": key} for key in change])
        truth.update(zip(change, vecs))
        if step % 3 == 2:
            index.save()
            index = GalleryIndex.open(str(tmp_path / "idx"))
        assert sorted(index.ids) == sorted(truth) and len(index) == len(truth)
        stored = dict(zip(index.ids, np.asarray(index.vectors())))
        for key, vec in truth.items():
            np.testing.assert_array_equal(stored[key], vec)
        assert [m["label"] for m in index.get_metadata(sorted(truth))] == sorted(truth)


@pytest.mark.parametrize("metric", ["cosine_similarity", "dot_product", "euclidean"])
def test_faiss_flat_agrees_with_exact(tmp_path, metric):
    index, ids, vectors, _ = make(tmp_path, n=400, metric=metric, index_type="Flat")
    index.save()
    index = GalleryIndex.open(str(tmp_path / "idx"))
    queries = np.random.default_rng(4).standard_normal((9, 16)).astype(np.float32)
    exact = index.search(queries, 8, backend="exact")
    approx = index.search(queries, 8, backend="faiss")
    assert approx.ids == exact.ids
    np.testing.assert_allclose(approx.scores, exact.scores, atol=1e-4)


def test_hnsw_and_ivf_indexes_are_built_saved_and_searchable(tmp_path):
    rng = np.random.default_rng(6)
    centers = rng.standard_normal((20, 32))
    vectors = (centers[rng.integers(0, 20, 2000)] + 0.3 * rng.standard_normal((2000, 32))).astype(np.float32)
    ids = [str(i) for i in range(2000)]
    for factory, params in (("HNSW32", {"efSearch": 64}), ("IVF16,PQ8x4fs,RFlat", {"nprobe": 16, "k_factor_rf": 40})):
        path = str(tmp_path / factory.replace(",", "_"))
        index = GalleryIndex.create(path, 32, index_type=factory)
        index.add(ids, vectors)
        index.set_faiss_params(**params)
        index.save()
        version = open(os.path.join(path, "CURRENT")).read()
        assert "faiss.index" in os.listdir(os.path.join(path, json.loads(version)["version"]))
        index = GalleryIndex.open(path)
        queries = vectors[:50] + 0.05 * rng.standard_normal((50, 32)).astype(np.float32)
        exact = index.search(queries, 10, backend="exact")
        approx = index.search(queries, 10)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx.ids, exact.ids)])
        assert recall >= 0.9, (factory, recall)


def test_clear_errors(tmp_path):
    index, ids, vectors, _ = make(tmp_path, n=5)
    with pytest.raises(ValueError, match=r"'img/0001.jpg' is already in the index.*upsert"):
        index.add(["img/0001.jpg"], vectors[:1])
    with pytest.raises(ValueError, match="appears twice"):
        index.add(["x", "x"], vectors[:2])
    with pytest.raises(UnknownIdError, match="'nope'"):
        index.remove(["nope"])
    assert len(index) == 5
    with pytest.raises(ValueError, match="dim 3, the index .* has dim 16"):
        index.add(["y"], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="dim 3"):
        index.search(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="NaN"):
        index.add(["z"], np.full((1, 16), np.nan))
    with pytest.raises(FileExistsError, match="already an index"):
        GalleryIndex.create(str(tmp_path / "idx"), 16)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        GalleryIndex.open(str(tmp_path / "missing"))


def test_foreign_and_corrupt_directories_are_named(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    with pytest.raises(IndexFormatError, match=f"{foreign}: not an imret gallery index"):
        GalleryIndex.open(str(foreign))

    index, ids, vectors, _ = make(tmp_path, n=30)
    index.save()
    root = tmp_path / "idx"
    version = root / json.loads((root / "CURRENT").read_text())["version"]
    data = (version / "vectors.safetensors").read_bytes()
    (version / "vectors.safetensors").write_bytes(data[:-100])
    with pytest.raises(IndexFormatError, match=r"vectors.safetensors: 1972 bytes, the manifest records 2072"):
        GalleryIndex.open(str(root))
    (version / "vectors.safetensors").write_bytes(data)
    (version / "ids.json").write_text('["a"]')
    with pytest.raises(IndexFormatError, match="ids.json: .* bytes, the manifest records"):
        GalleryIndex.open(str(root))
    (version / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match="manifest.json: manifest is not valid JSON"):
        GalleryIndex.open(str(root))
    (root / "CURRENT").write_text("garbage")
    with pytest.raises(IndexFormatError, match="CURRENT: corrupt index pointer"):
        GalleryIndex.open(str(root))
