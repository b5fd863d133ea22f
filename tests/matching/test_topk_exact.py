"""The blockwise engine against a brute-force float64 reference."""
import warnings

import numpy as np
import pytest
import torch

from imret.matching import blockwise, faiss_kernel, lowprecision
from imret.matching.lowprecision import EmulatedBfloat16Warning
from imret.matching import SIMILARITY_FUNCTIONS, pairwise_similarity, topk_similarity


def neg_l1(queries, gallery):
    return -torch.cdist(queries, gallery, p=1)


SIMS = ["cosine_similarity", "dot_product", "euclidean", neg_l1]
# the bfloat16 path runs on every CPU: natively where it can, emulated by torch elsewhere
PRECISIONS = ["float32", "bfloat16"]
SMALL_BLOCK = 1 << 14  # a few hundred rows per block, so every gallery spans many blocks


@pytest.fixture(params=["torch", "faiss"])
def kernel(request, monkeypatch):
    """Run the float32 engine through its torch kernels or through FAISS's brute-force kernel."""
    monkeypatch.setattr(faiss_kernel, "FAISS_MIN_WORK", 0 if request.param == "faiss" else float("inf"))
    return request.param


def reference(queries, gallery, sim):
    fn = sim if callable(sim) else SIMILARITY_FUNCTIONS[sim]
    full = fn(queries.double(), torch.as_tensor(np.asarray(gallery)).double())
    # lower index first on equal scores
    order = torch.sort(full, dim=1, descending=True, stable=True).indices
    return full, order


def assert_topk_matches(scores, index, full, order, k, atol=1e-5):
    """Same scores as the reference; indices equal except where reference scores tie within atol."""
    expected = torch.gather(full, 1, order[:, :k])
    assert scores.shape == index.shape == expected.shape
    torch.testing.assert_close(scores.double(), expected, atol=atol, rtol=1e-6)
    # the returned indices really have the returned scores, and are distinct
    torch.testing.assert_close(torch.gather(full, 1, index), expected, atol=atol, rtol=1e-6)
    assert all(len(set(row.tolist())) == k for row in index)
    mismatch = index != order[:, :k]
    tol = atol + 1e-6 * expected.abs()
    assert torch.all((expected - full.gather(1, index))[mismatch] <= tol[mismatch])


@pytest.mark.parametrize("sim", SIMS, ids=lambda s: s if isinstance(s, str) else "callable")
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("k", [1, 7])
def test_topk_equals_brute_force(sim, precision, k, kernel):
    gen = torch.Generator().manual_seed(0)
    queries = torch.randn(37, 48, generator=gen)
    gallery = torch.randn(1001, 48, generator=gen)  # not a multiple of any block size
    scores, index = topk_similarity(queries, gallery, k, sim, block_bytes=SMALL_BLOCK, precision=precision)
    full, order = reference(queries, gallery, sim)
    assert_topk_matches(scores, index, full, order, k)


@pytest.mark.parametrize("sim", SIMS, ids=lambda s: s if isinstance(s, str) else "callable")
def test_k_larger_than_gallery_and_minus_one_rank_everything(sim):
    gen = torch.Generator().manual_seed(1)
    queries, gallery = torch.randn(5, 16, generator=gen), torch.randn(23, 16, generator=gen)
    full, order = reference(queries, gallery, sim)
    for k in (23, 40, -1):
        scores, index = topk_similarity(queries, gallery, k, sim, block_bytes=SMALL_BLOCK)
        assert_topk_matches(scores, index, full, order, 23)


@pytest.mark.parametrize("sim", ["dot_product", "euclidean"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_duplicate_vectors_rank_lower_index_first(sim, precision, kernel):
    """Small integer vectors give exact scores, so ties are exact and the order is fully determined."""
    gen = torch.Generator().manual_seed(2)
    base = torch.randint(-3, 4, (60, 8), generator=gen).float()
    gallery = torch.cat([base, base, base[:17]])  # every row of base appears 2 or 3 times
    queries = torch.randint(-3, 4, (25, 8), generator=gen).float()
    full, order = reference(queries, gallery, sim)
    for k in (1, 5, 12):
        scores, index = topk_similarity(queries, gallery, k, sim, block_bytes=1 << 12, precision=precision)
        assert torch.equal(index, order[:, :k])
        torch.testing.assert_close(scores.double(), torch.gather(full, 1, order[:, :k]), atol=1e-6, rtol=1e-6)


@pytest.fixture(autouse=True)
def _emulation_warning_is_expected():
    """On CPUs without native bfloat16 every bfloat16 call warns; that is tested on its own below."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmulatedBfloat16Warning)
        yield


def test_bfloat16_without_native_kernel_runs_emulated_exact_and_warns(monkeypatch):
    calls = []
    real = blockwise.topk_bf16
    monkeypatch.setattr(blockwise, "topk_bf16", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    for module in (lowprecision, blockwise):  # a CPU without native bfloat16, wherever it is asked
        monkeypatch.setattr(module, "bf16_matmul_supported", lambda: False)
    gen = torch.Generator().manual_seed(5)
    queries, gallery = torch.randn(7, 48, generator=gen), torch.randn(3000, 48, generator=gen)
    full, order = reference(queries, gallery, "cosine_similarity")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, index = topk_similarity(queries, gallery, 5, "cosine_similarity", precision="bfloat16")
    assert calls, "the bfloat16 path did not run"
    assert any(issubclass(w.category, EmulatedBfloat16Warning) and "emulates" in str(w.message) for w in caught)
    assert_topk_matches(scores, index, full, order, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmulatedBfloat16Warning)
        topk_similarity(queries, gallery, 5, "cosine_similarity", precision="auto")  # never warns


def test_bfloat16_stays_exact_when_scores_are_closer_than_its_resolution():
    """Near-identical gallery rows defeat bfloat16 ranking; the float32 fallback must kick in."""
    gen = torch.Generator().manual_seed(3)
    center = torch.randn(1, 64, generator=gen)
    gallery = center + 1e-4 * torch.randn(2000, 64, generator=gen)
    queries = center + 1e-4 * torch.randn(6, 64, generator=gen)
    full, order = reference(queries, gallery, "dot_product")
    scores, index = topk_similarity(queries, gallery, 5, "dot_product", block_bytes=SMALL_BLOCK,
                                    precision="bfloat16")
    # scores near 64 differ by ~1e-3: bfloat16 (resolution 0.25 there) cannot rank them, float32 can
    assert_topk_matches(scores, index, full, order, 5, atol=5e-5)


def test_memmap_float16_and_numpy_galleries(tmp_path, kernel):
    gen = np.random.default_rng(4)
    gallery = gen.standard_normal((777, 32)).astype(np.float16)
    path = tmp_path / "g.bin"
    mm = np.memmap(path, dtype=np.float16, mode="w+", shape=gallery.shape)
    mm[:] = gallery
    mm.flush()
    ro = np.memmap(path, dtype=np.float16, mode="r", shape=gallery.shape)
    queries = torch.from_numpy(gen.standard_normal((9, 32)).astype(np.float32))
    full, order = reference(queries, gallery.astype(np.float32), "cosine_similarity")
    for g in (ro, gallery, torch.from_numpy(gallery.astype(np.float32))):
        for precision in ("float32", "auto"):
            scores, index = topk_similarity(queries, g, 10, block_bytes=SMALL_BLOCK, precision=precision)
            assert_topk_matches(scores, index, full, order, 10)


@pytest.mark.parametrize("sim", SIMS, ids=lambda s: s if isinstance(s, str) else "callable")
def test_pairwise_equals_reference(sim):
    gen = torch.Generator().manual_seed(5)
    queries, gallery = torch.randn(11, 24, generator=gen), torch.randn(501, 24, generator=gen)
    full, _ = reference(queries, gallery, sim)
    torch.testing.assert_close(pairwise_similarity(queries, gallery, sim, block_bytes=1 << 12).double(), full,
                               atol=1e-5, rtol=1e-5)


def test_bad_arguments_are_named():
    q, g = torch.randn(2, 8), torch.randn(10, 8)
    with pytest.raises(ValueError, match="k must be"):
        topk_similarity(q, g, 0)
    with pytest.raises(ValueError, match="8 dims but the gallery has 4"):
        topk_similarity(q, torch.randn(10, 4), 3)
    with pytest.raises(ValueError, match="cosine_similarity, dot_product, euclidean"):
        topk_similarity(q, g, 3, "manhattan")
    with pytest.raises(ValueError, match="precision must be one of"):
        topk_similarity(q, g, 3, precision="int8")
