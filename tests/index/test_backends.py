"""One behaviour suite for every index back end: add/upsert/remove/search/metadata/provenance/sync/commit.

Each back end is reached only through ``create_index`` / ``open_index`` and the ``IndexBackend`` interface.
"""
import os
import uuid

import numpy as np
import pytest
import torch
from PIL import Image

from imret.index import (Fingerprint, IndexBackend, ProvenanceMismatchError, UnknownIdError, create_index,
                         open_index, scheme_of, sync_folder)
from imret.matching import SIMILARITY_FUNCTIONS

PROVENANCE = {"model": "pixels", "encoder": "pixels-4x4", "weights_sha256": "0" * 64, "encoding_version": 1}


@pytest.fixture(scope="module")
def milvus_lite_db(tmp_path_factory):
    """One Milvus Lite database (one engine process) per module; each test gets its own collection."""
    return tmp_path_factory.mktemp("milvus") / "suite.db"


@pytest.fixture(params=["local", "milvus-lite"])
def index_uri(request, tmp_path):
    """Where a fresh index of the back end under test lives."""
    if request.param == "local":
        return str(tmp_path / "index")
    if request.param == "milvus-lite":
        return f"milvus-lite:{request.getfixturevalue('milvus_lite_db')}#t_{uuid.uuid4().hex[:12]}"
    raise AssertionError(f"unknown back end {request.param}")


def brute_force(queries, vectors, metric, k):
    scores = SIMILARITY_FUNCTIONS[metric](torch.tensor(queries).double(), torch.tensor(vectors).double())
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return torch.gather(scores, 1, order).numpy(), order.numpy()


def filled(uri, n=40, dim=8, metric="cosine_similarity", seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"dir{i % 3}/img{i:03d}.png" for i in range(n)]
    meta = [{"path": f"/g/{key}", "label": f"dir{i % 3}", "size": 100 + i, "mtime": 1000.5 + i,
             "sha256": f"{i:064x}"} for i, key in enumerate(ids)]
    index = create_index(uri, dim, metric, PROVENANCE)
    index.add(ids, vectors, meta)
    return index, ids, vectors, meta


@pytest.mark.parametrize("metric", ["cosine_similarity", "dot_product", "euclidean"])
def test_search_equals_brute_force_before_and_after_reopen(index_uri, metric):
    index, ids, vectors, meta = filled(index_uri, metric=metric)
    assert isinstance(index, IndexBackend) and index.metric == metric and index.dim == 8 and len(index) == 40
    queries = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    want_scores, want_rows = brute_force(queries, vectors, metric, 7)
    for backend in (index, None):
        if backend is None:
            index.commit()
            backend = open_index(index_uri)
        result = backend.search(queries, 7)
        assert result.ids == [[ids[r] for r in row] for row in want_rows]
        np.testing.assert_allclose(result.scores, want_scores, atol=1e-4)
        assert result.metadata[0][0] == dict(meta[want_rows[0][0]], id=ids[want_rows[0][0]])
        assert np.isfinite(result.scores).all()


def test_k_is_clamped_and_empty_index_returns_nothing(index_uri):
    index = create_index(index_uri, 4, "dot_product", PROVENANCE)
    assert index.search(np.ones((2, 4), np.float32), 3).ids == [[], []]
    index.add(["a", "b"], np.eye(2, 4, dtype=np.float32))
    result = index.search(np.ones((1, 4), np.float32), 10)
    assert sorted(result.ids[0]) == ["a", "b"] and result.scores.shape[1] >= 2


def test_add_upsert_remove_update_metadata_keep_ids_attached(index_uri):
    index, ids, vectors, meta = filled(index_uri, metric="dot_product")
    with pytest.raises(ValueError, match="already in the index"):
        index.add([ids[0], "new"], vectors[:2])
    assert "new" not in index and len(index) == 40
    with pytest.raises(UnknownIdError):
        index.remove([ids[1], "missing"])
    assert ids[1] in index and len(index) == 40

    replacement = np.full((2, 8), 0.5, np.float32)
    index.upsert([ids[2], "fresh"], replacement, [{"label": "changed"}, {"label": "fresh"}])
    np.testing.assert_allclose(index.get_vectors([ids[2], "fresh"]), replacement)
    assert [m["label"] for m in index.get_metadata([ids[2], "fresh"])] == ["changed", "fresh"]
    index.remove([ids[3]])
    index.update_metadata([ids[4]], [dict(meta[4], label="relabelled")])
    np.testing.assert_allclose(index.get_vectors([ids[4]]), vectors[4:5])
    with pytest.raises(UnknownIdError):
        index.get_vectors([ids[3]])
    index.commit()

    again = open_index(index_uri)
    expected = sorted(set(ids) - {ids[3]} | {"fresh"})
    assert sorted(again.iter_ids()) == expected and len(again) == 40 and ids[3] not in again
    np.testing.assert_allclose(again.get_vectors([ids[2], ids[4], ids[5]]),
                               np.stack([replacement[0], vectors[4], vectors[5]]))
    assert again.get_metadata([ids[4]])[0]["label"] == "relabelled"
    fingerprints = dict(again.iter_fingerprints())
    assert fingerprints[ids[5]] == Fingerprint(105, 1005.5, f"{5:064x}")
    assert fingerprints["fresh"] == Fingerprint(None, None, None)


def test_only_committed_changes_survive_a_reopen(index_uri):
    index, ids, vectors, _ = filled(index_uri, n=10)
    index.commit()
    index.add(["late"], np.ones((1, 8), np.float32))
    index.remove([ids[0]])
    index.set_provenance(dict(PROVENANCE, model="other"))
    again = open_index(index_uri)
    assert sorted(again.iter_ids()) == sorted(ids) and again.provenance == PROVENANCE
    index.commit()
    again = open_index(index_uri)
    assert "late" in again and ids[0] not in again and again.provenance["model"] == "other"


def test_missing_and_existing_targets(index_uri):
    with pytest.raises(FileNotFoundError):
        open_index(index_uri)
    index, *_ = filled(index_uri, n=3)
    index.commit()
    with pytest.raises(FileExistsError):
        create_index(index_uri, 8, "cosine_similarity", PROVENANCE)
    fresh = create_index(index_uri, 8, "cosine_similarity", PROVENANCE, overwrite=True)
    fresh.add(["only"], np.ones((1, 8), np.float32))
    fresh.commit()
    assert list(open_index(index_uri).iter_ids()) == ["only"]


def test_non_finite_vectors_are_refused(index_uri):
    index = create_index(index_uri, 4, "cosine_similarity", PROVENANCE)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="NaN or infinite"):
            index.add(["x"], np.array([[1, 2, bad, 4]], np.float32))
        with pytest.raises(ValueError, match="NaN or infinite"):
            index.upsert(["x"], np.array([[1, 2, bad, 4]], np.float32))
    assert len(index) == 0


# sync through the interface --------------------------------------------------------------------------
def write_png(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)).save(path)


def pixels(paths):
    vectors, failed = [], {}
    for path in paths:
        try:
            with Image.open(path) as img:
                vectors.append(np.asarray(img.convert("RGB"), np.float32).reshape(-1) - 127.5)
        except Exception as exc:
            failed[path] = f"{type(exc).__name__}: {exc}"
    return (np.stack(vectors) if vectors else np.zeros((0, 48), np.float32)), failed


@pytest.mark.parametrize("opened", [False, True], ids=["uri", "opened"])
def test_sync_folder_speaks_to_the_interface(index_uri, tmp_path, opened):
    folder = tmp_path / "gallery"
    for i in range(9):
        write_png(str(folder / f"c{i % 2}" / f"{i}.png"), i)
    if opened:
        target = create_index(index_uri, 48, "cosine_similarity", PROVENANCE)
    else:
        target = index_uri
    report = sync_folder(target, str(folder), pixels, PROVENANCE, progress=False, batch_size=4)
    assert (report.added, report.encoded, report.count, report.failed) == (9, 9, 9, {})
    os.remove(folder / "c0" / "0.png")
    write_png(str(folder / "c1" / "1.png"), 99)
    os.utime(folder / "c1" / "1.png", (5e8, 5e8))
    calls = []
    report = sync_folder(open_index(index_uri, writable=True) if opened else index_uri, str(folder),
                         lambda paths: calls.extend(paths) or pixels(paths), PROVENANCE, progress=False)
    assert (report.removed, report.updated, report.unchanged, report.encoded) == (1, 1, 7, 1)
    assert calls == [str(folder / "c1" / "1.png")]
    index = open_index(index_uri)
    assert len(index) == 8 and "c0/0.png" not in index
    np.testing.assert_allclose(index.get_vectors(["c1/1.png"])[0],
                               pixels([str(folder / "c1" / "1.png")])[0][0] / np.linalg.norm(
                                   pixels([str(folder / "c1" / "1.png")])[0][0]), atol=1e-6)
    assert index.get_metadata(["c1/3.png"])[0]["label"] == "c1"

    with pytest.raises(ProvenanceMismatchError, match="model differ"):
        sync_folder(index_uri, str(folder), pixels, dict(PROVENANCE, model="other"), progress=False)
    report = sync_folder(index_uri, str(folder), pixels, dict(PROVENANCE, model="other"), rebuild=True,
                         progress=False)
    assert report.added == 8 and open_index(index_uri).provenance["model"] == "other"


def test_sync_requires_provenance(index_uri, tmp_path):
    write_png(str(tmp_path / "g" / "a.png"), 0)
    with pytest.raises(ValueError, match="needs the provenance"):
        sync_folder(index_uri, str(tmp_path / "g"), pixels, {}, progress=False)


def test_sync_passes_create_options_only_to_a_new_index(index_uri, tmp_path):
    write_png(str(tmp_path / "g" / "a.png"), 0)
    options = {"dtype": "float16"} if scheme_of(index_uri) == "local" else {}
    sync_folder(index_uri, str(tmp_path / "g"), pixels, PROVENANCE, progress=False, create_options=options)
    write_png(str(tmp_path / "g" / "b.png"), 1)
    report = sync_folder(index_uri, str(tmp_path / "g"), pixels, PROVENANCE, progress=False, create_options=options)
    assert report.added == 1 and report.count == 2
    if options:
        assert open_index(index_uri).dtype == "float16"
