"""One ranking path: every consumer orders a tie-heavy gallery exactly like a stable argsort of -score."""
import numpy as np
import pytest
import torch
from torch import nn

from imret.evaluation import RetrievalAveragePrecision, RetrievalRecall, rank_relevance
from imret.index.gallery import GalleryIndex
from imret.matching import faiss_kernel, rank, rank_scores
from imret.models.retrievers import ImageToImageRetriever

SMALL_BLOCK = 1 << 12


def tie_heavy(seed=0, queries=23, gallery=301, dim=4):
    """Small-integer vectors: most scores are exactly equal to many others (and exact in float32)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randint(-1, 2, (queries, dim), generator=gen).float()
    g = torch.randint(-1, 2, (gallery, dim), generator=gen).float()
    q[q.abs().sum(1) == 0, 0] = 1.0  # no zero query (cosine of a zero vector is not a tie test)
    g[g.abs().sum(1) == 0, 1] = 1.0
    return q, g


def reference_order(scores: np.ndarray) -> np.ndarray:
    """The tie rule written plainly: stable argsort of -score (lower gallery index first)."""
    return np.argsort(-scores, axis=1, kind="stable")


def dot_scores(q, g):
    return (q.double() @ g.double().T).numpy()


@pytest.mark.parametrize("k", [1, 5, 17, 301, None])
def test_rank_scores_matches_stable_argsort(k):
    q, g = tie_heavy()
    scores = q @ g.T
    ref = reference_order(scores.numpy())[:, :k]
    values, index = rank_scores(scores, k)
    assert (index.numpy() == ref).all()
    assert np.array_equal(values.numpy(), np.take_along_axis(scores.numpy(), ref, 1))
    # the tie-heavy case really has ties straddling the cut
    if k not in (None, 301):
        assert (scores.sort(dim=1, descending=True).values[:, k - 1] ==
                scores.sort(dim=1, descending=True).values[:, k]).any()


@pytest.fixture(params=["torch", "faiss"])
def kernel(request, monkeypatch):
    monkeypatch.setattr(faiss_kernel, "FAISS_MIN_WORK", 0 if request.param == "faiss" else float("inf"))
    return request.param


@pytest.mark.parametrize("k", [1, 9, 40])
@pytest.mark.parametrize("similarity", ["dot_product", "euclidean"])
def test_rank_vectors_engine_matches_reference(k, similarity, kernel):
    q, g = tie_heavy(seed=1)
    full = dot_scores(q, g) if similarity == "dot_product" else -torch.cdist(q.double(), g.double()).numpy()
    ref = reference_order(full)[:, :k]
    _, index = rank(q, g, k, similarity, block_bytes=SMALL_BLOCK)
    assert (index.numpy() == ref).all()


def _retriever(gallery: torch.Tensor, topk: int) -> ImageToImageRetriever:
    return ImageToImageRetriever(image_encoder=nn.Identity(), prototype=gallery, similarity_fn="dot_product",
                                 topk=topk)


@pytest.mark.parametrize("topk", [3, 11, -1])
def test_retriever_predict_and_matching_follow_the_rule(topk):
    q, g = tie_heavy(seed=2)
    retriever = _retriever(g, topk)
    ref = reference_order(dot_scores(q, g))
    ref = ref if topk == -1 else ref[:, :topk]
    result = retriever.matching(q)
    assert (result["pred_label"].numpy() == ref).all()
    samples = retriever.predict(q)
    assert all((s.pred_label.numpy() == r).all() for s, r in zip(samples, ref))
    # and they agree with the engine used by search
    _, engine = rank(q, g, ref.shape[1], "dot_product")
    assert (engine == result["pred_label"]).all()


def test_metrics_rank_ties_by_index():
    q, g = tie_heavy(seed=3)
    scores = q @ g.T
    gen = np.random.default_rng(3)
    relevant = torch.from_numpy(gen.random(scores.shape) < 0.1)
    ref = reference_order(scores.numpy())
    for k in (1, 5, None):
        expected = np.take_along_axis(relevant.numpy(), ref[:, :k], 1)
        assert (rank_relevance(scores, relevant, k).numpy() == expected).all()
    # Recall@1 and mAP computed on the reference order, by hand
    first = np.take_along_axis(relevant.numpy(), ref, 1)
    has = first.any(1)
    recall1 = first[has, 0].mean() * 100
    ranks = np.arange(1, first.shape[1] + 1)
    ap = [(np.cumsum(row) / ranks)[row].sum() / row.sum() for row in first[has]]
    assert RetrievalRecall.calculate(scores, relevant, topk=1)[0].item() == pytest.approx(recall1)
    assert RetrievalAveragePrecision.calculate(scores, relevant) == pytest.approx(np.mean(ap) * 100)


def test_gallery_index_exact_search_follows_the_rule(tmp_path):
    q, g = tie_heavy(seed=4, gallery=120)
    index = GalleryIndex.create(str(tmp_path / "ix"), dim=4, metric="dot_product", index_type=None)
    index.add([f"item{i:04d}" for i in range(len(g))], g.numpy())
    found = index.search(q.numpy(), 15)
    ref = reference_order(dot_scores(q, g))[:, :15]
    assert [[int(i[4:]) for i in row] for row in found.ids] == ref.tolist()


def test_inferencer_ranks_through_the_same_rule():
    from types import SimpleNamespace

    from imret.apis.inferencer import ImageRetrievalInferencer
    from imret.matching import dot_product

    q, g = tie_heavy(seed=5, gallery=90)
    inferencer = object.__new__(ImageRetrievalInferencer)  # only the ranking step, with given query vectors
    inferencer.model = SimpleNamespace(encode_queries=lambda queries, batch_size: q.numpy(), similarity_fn=dot_product)
    inferencer.prototype_vecs = g
    inferencer.prototype_samples = [{"img_path": f"{i}.jpg", "sample_idx": i} for i in range(len(g))]
    results = inferencer(list(range(len(q))), topk=12)
    ref = reference_order(dot_scores(q, g))[:, :12]
    assert [[m["sample_idx"] for m in row] for row in results] == ref.tolist()


def test_rank_rejects_nan_and_bad_k():
    with pytest.raises(ValueError, match="NaN"):
        rank_scores(torch.tensor([[1.0, float("nan")]]), 1)
    with pytest.raises(ValueError, match="k must be"):
        rank(torch.zeros(2, 3), k=0)
