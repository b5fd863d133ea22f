"""The engine's numpy path (numpy vectors, built-in similarity): same results and tie rule as the torch
engine and as a plain stable argsort, and no torch loaded."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from imret.index.gallery import GalleryIndex
from imret.matching import rank, rank_scores, topk_similarity
from imret.matching.array_topk import order_arrays, rank_score_array, topk_arrays

REPO_SRC = Path(__file__).resolve().parents[2] / "src"
SMALL_BLOCK = 1 << 12  # 256-row blocks here: several blocks, so winners are merged across blocks
KINDS = {"dot_product": "dot", "euclidean": "euclidean", "cosine_similarity": "cosine"}


def tie_heavy(seed=0, queries=23, gallery=1000, dim=4, same_norm=False):
    """Small-integer vectors: most scores equal many others exactly (also in float32).

    ``same_norm``: non-negative entries and two ones in every gallery row (norm sqrt(2)), so equal
    cosines are equal dot products, computed alike (no cancellation that a fused multiply-add would
    turn into a rounding residue).
    """
    gen = np.random.default_rng(seed)
    q = gen.integers(0 if same_norm else -1, 2, (queries, dim)).astype(np.float32)
    q[np.abs(q).sum(1) == 0, 0] = 1.0
    if same_norm:
        g = np.zeros((gallery, dim), np.float32)
        for row in g:
            row[gen.choice(dim, 2, replace=False)] = 1.0
    else:
        g = gen.integers(-1, 2, (gallery, dim)).astype(np.float32)
        g[np.abs(g).sum(1) == 0, 1] = 1.0
    return q, g


def exact_scores(q, g, similarity):
    """float64 scores by the definitions (no engine involved)."""
    q, g = q.astype(np.float64), g.astype(np.float64)
    if similarity == "euclidean":
        return -np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))
    if similarity == "cosine_similarity":  # exact dots over the norms: equal cosines stay equal, 0 stays 0
        return (q @ g.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(g, axis=1))
    return q @ g.T


def reference_order(scores):
    """The tie rule written plainly: stable argsort of -score (lower gallery index first)."""
    return np.argsort(-scores, axis=1, kind="stable")


@pytest.mark.parametrize("k", [1, 9, 40, 300, 999, None])
@pytest.mark.parametrize("similarity", ["dot_product", "euclidean", "cosine_similarity"])
def test_numpy_path_matches_reference_and_torch_engine(similarity, k):
    q, g = tie_heavy(seed=1, same_norm=similarity == "cosine_similarity")
    full = exact_scores(q, g, similarity)
    ref = reference_order(full)[:, :k]
    if k not in (None, 999):  # the data really has ties straddling the cut
        ordered = np.sort(full, axis=1)[:, ::-1]
        assert (ordered[:, k - 1] == ordered[:, k]).any()
    scores, index = rank(q, g, k, similarity, block_bytes=SMALL_BLOCK)
    assert isinstance(scores, np.ndarray) and isinstance(index, np.ndarray)
    assert scores.dtype == np.float32 and index.dtype == np.int64
    assert np.array_equal(index, ref)
    np.testing.assert_allclose(scores, np.take_along_axis(full, ref, 1), rtol=1e-6, atol=1e-6)
    # the torch engine (brute force over the same blocks) gives the same ranking
    torch_scores, torch_index = rank(torch.from_numpy(q), torch.from_numpy(g), k, similarity, block_bytes=SMALL_BLOCK)
    assert np.array_equal(torch_index.numpy(), index)
    np.testing.assert_allclose(torch_scores.numpy(), scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("similarity", ["dot_product", "euclidean", "cosine_similarity"])
def test_numpy_path_on_real_valued_float16_memory_map_equals_torch_engine(tmp_path, similarity):
    """Index galleries are memory maps, float16 ones too; the numpy path reads them block by block."""
    gen = np.random.default_rng(7)
    gallery = gen.standard_normal((1501, 64)).astype(np.float16)  # 6 blocks; the last one is padded
    gallery[700] = gallery[3]  # duplicate rows: an exact tie the rule must settle by index
    gallery[1400] = gallery[3]
    path = tmp_path / "vectors.f16"
    stored = np.memmap(path, dtype=np.float16, mode="w+", shape=gallery.shape)
    stored[:] = gallery
    stored.flush()
    stored = np.memmap(path, dtype=np.float16, mode="r", shape=gallery.shape)
    queries = gen.standard_normal((5, 64)).astype(np.float32)
    queries[0] = gallery[3].astype(np.float32)
    scores, index = rank(queries, stored, 10, similarity, block_bytes=1 << 16)
    torch_scores, torch_index = topk_similarity(torch.from_numpy(queries), stored, 10, similarity, block_bytes=1 << 16)
    assert np.array_equal(index, torch_index.numpy())
    np.testing.assert_allclose(scores, torch_scores.numpy(), rtol=1e-5, atol=1e-5)
    if similarity != "dot_product":  # the query's own row and its two copies score best, lowest index first
        assert index[0, :3].tolist() == [3, 700, 1400]


def test_nan_scores_rank_first_like_the_torch_engine():
    gen = np.random.default_rng(3)
    gallery = gen.standard_normal((600, 8)).astype(np.float32)
    gallery[[50, 420]] = np.nan
    queries = gen.standard_normal((3, 8)).astype(np.float32)
    scores, index = rank(queries, gallery, 4, "dot_product", block_bytes=SMALL_BLOCK)
    _, torch_index = rank(torch.from_numpy(queries), torch.from_numpy(gallery), 4, "dot_product",
                          block_bytes=SMALL_BLOCK)
    assert np.isnan(scores[:, :2]).all() and index[:, :2].tolist() == [[50, 420]] * 3
    assert np.array_equal(index, torch_index.numpy())


@pytest.mark.parametrize("k", [1, 5, 17, None])
def test_score_matrix_ranking_matches_rank_scores(k):
    q, g = tie_heavy(seed=2, gallery=301)
    scores = q @ g.T
    values, index = rank(scores, k=k)
    torch_values, torch_index = rank_scores(torch.from_numpy(scores), k)
    assert isinstance(index, np.ndarray)
    assert np.array_equal(index, reference_order(scores)[:, :k])
    assert np.array_equal(index, torch_index.numpy()) and np.array_equal(values, torch_values.numpy())
    with pytest.raises(ValueError, match="NaN"):
        rank_score_array(np.array([[1.0, np.nan]], np.float32), 1)


def test_callable_similarity_and_bfloat16_use_the_torch_engine_and_return_numpy():
    q, g = tie_heavy(seed=4, gallery=300)
    manhattan = lambda a, b: -torch.cdist(a, b, p=1)  # noqa: E731
    scores, index = rank(q, g, 7, manhattan)
    full = -np.abs(q[:, None, :] - g[None, :, :]).sum(-1)
    assert isinstance(index, np.ndarray) and np.array_equal(index, reference_order(full)[:, :7])
    _, bf16_index = rank(q, g, 7, "dot_product", precision="bfloat16")
    assert np.array_equal(bf16_index, reference_order(q @ g.T)[:, :7])


def test_order_arrays_is_the_tie_rule():
    scores = np.array([[0.5, 0.9, 0.5, np.inf, 0.9, np.nan]], np.float32)
    index = np.array([[4, 9, 1, 2, 3, 7]])
    values, order = order_arrays(scores, index)
    assert order.tolist() == [[7, 2, 3, 9, 1, 4]]
    assert np.isnan(values[0, 0]) and values[0, 1:].tolist() == np.float32([np.inf, 0.9, 0.9, 0.5, 0.5]).tolist()


def test_bad_arguments_are_refused():
    q, g = tie_heavy(gallery=10)
    with pytest.raises(ValueError, match="k must be"):
        rank(q, g, 0)
    with pytest.raises(ValueError, match="dims"):
        rank(q, g[:, :3], 3)
    with pytest.raises(ValueError, match="2-D"):
        topk_arrays(q[0], g, 3, "dot")
    with pytest.raises(ValueError, match="unknown similarity_fn"):
        rank(q, g, 3, "manhattan")


def test_index_search_and_numpy_ranking_do_not_load_torch(tmp_path):
    """In a fresh process: exact index search (every metric), sharded merge and rank on numpy vectors,
    all without importing torch, with the rule's answers."""
    q, g = tie_heavy(seed=5, gallery=120, same_norm=True)
    np.save(tmp_path / "q.npy", q)
    np.save(tmp_path / "g.npy", g)
    script = f"""
import json, sys
import numpy as np
from imret.index.gallery import GalleryIndex
from imret.index.sharded import ShardedIndex
from imret.matching import rank
q, g = np.load({str(tmp_path / 'q.npy')!r}), np.load({str(tmp_path / 'g.npy')!r})
out = {{}}
for metric in ("dot_product", "euclidean", "cosine_similarity"):
    index = GalleryIndex.create({str(tmp_path)!r} + "/" + metric, dim=4, metric=metric, index_type=None)
    index.add([f"item{{i:04d}}" for i in range(len(g))], g)
    out[metric] = [[int(i[4:]) for i in row] for row in index.search(q, 15).ids]
halves = []
for number, part in enumerate((g[:60], g[60:])):
    shard = GalleryIndex.create({str(tmp_path)!r} + f"/shard{{number}}", dim=4, metric="dot_product", index_type=None)
    shard.add([f"item{{i + 60 * number:04d}}" for i in range(len(part))], part)
    halves.append(shard)
out["sharded"] = [[int(i[4:]) for i in row] for row in ShardedIndex(halves).search(q, 15).ids]
out["rank"] = rank(q, g, 15, "dot_product")[1].tolist()
out["torch"] = "torch" in sys.modules
print(json.dumps(out))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_SRC), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out.pop("torch") is False
    for name, found in out.items():
        similarity = name if name in KINDS else "dot_product"
        assert found == reference_order(exact_scores(q, g, similarity))[:, :15].tolist(), name


@pytest.mark.parametrize("workers", [2, 3])
@pytest.mark.parametrize("similarity", ["dot_product", "cosine_similarity"])
def test_blocks_spread_over_worker_threads_give_the_same_ranking(monkeypatch, similarity, workers):
    """With numpy's BLAS at one thread, blocks run on imret's pool: same order, same scores, bit for bit."""
    import imret.matching.array_topk as array_topk
    import imret.utils.threads as threads

    q, g = tie_heavy(seed=2, gallery=1500, same_norm=similarity == "cosine_similarity")
    g = np.concatenate([g, g[:300]])  # duplicates of early rows far away, in other blocks
    full = exact_scores(q, g, similarity)
    monkeypatch.setattr(threads, "array_engine_workers", lambda: 1)
    single = rank(q, g, 40, similarity)
    used = []
    real_pool = array_topk._block_pool
    monkeypatch.setattr(array_topk, "_block_pool", lambda n: used.append(n) or real_pool(n))
    monkeypatch.setattr(threads, "array_engine_workers", lambda: workers)
    pooled = rank(q, g, 40, similarity)
    assert used == [workers]
    assert np.array_equal(pooled[1], reference_order(full)[:, :40])
    assert np.array_equal(pooled[1], single[1]) and np.array_equal(pooled[0], single[0])
