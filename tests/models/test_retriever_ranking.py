"""ImageToImageRetriever.predict / matching against a brute-force reference."""
from __future__ import annotations

import math

import pytest
import torch
from retriever_fixtures import make_retriever


def reference_similarity(name, query: torch.Tensor, proto: torch.Tensor) -> float:
    q, p = query.double(), proto.double()
    if name == "cosine_similarity":
        return float(torch.dot(q, p) / (q.norm() * p.norm()))
    if name == "dot_product":
        return float(torch.dot(q, p))
    if name == "euclidean":
        return -math.sqrt(float(((q - p) ** 2).sum()))
    return float(name(query[None], proto[None])[0, 0])


def reference_ranking(name, queries, prototypes):
    table = [[reference_similarity(name, q, p) for p in prototypes] for q in queries]
    order = [sorted(range(len(row)), key=lambda j: -row[j]) for row in table]
    return torch.tensor(table, dtype=torch.float64), order


def manhattan_similarity(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    return -torch.cdist(queries, prototypes, p=1)


SIMILARITIES = ["cosine_similarity", "dot_product", "euclidean", manhattan_similarity]


@pytest.mark.parametrize("similarity", SIMILARITIES, ids=["cosine", "dot", "euclidean", "callable"])
@pytest.mark.parametrize("topk", [-1, 5, 1, 50])
def test_predict_matches_brute_force(similarity, topk):
    generator = torch.Generator().manual_seed(7)
    prototypes = torch.randn(23, 16, generator=generator)
    queries = torch.randn(9, 16, generator=generator)
    model = make_retriever(prototypes, similarity_fn=similarity, topk=topk)
    samples = model.predict(queries)
    expected_scores, expected_order = reference_ranking(similarity, queries, prototypes)
    kept = 23 if topk == -1 else min(topk, 23)
    assert len(samples) == 9
    for sample, scores, order in zip(samples, expected_scores, expected_order):
        torch.testing.assert_close(sample.pred_score.double(), scores, rtol=1e-4, atol=1e-4)
        assert sample.pred_label.tolist() == order[:kept]


def test_predict_sets_results_on_given_data_samples():
    from imret.structures import DataSample
    prototypes = torch.eye(4)
    queries = torch.tensor([[0.0, 0.0, 1.0, 0.1], [1.0, 0.2, 0.0, 0.0]])
    given = [DataSample(metainfo=dict(img_path=f"q{i}.jpg")) for i in range(2)]
    model = make_retriever(prototypes, topk=2)
    returned = model(queries, given, mode="predict")
    assert returned[0] is given[0]
    assert given[0].pred_label.tolist() == [2, 3]
    assert given[1].pred_label.tolist() == [0, 1]
    assert given[0].img_path == "q0.jpg"


def test_matching_contract_scores_sorted_and_full():
    generator = torch.Generator().manual_seed(3)
    prototypes = torch.randn(30, 8, generator=generator)
    feats = torch.randn(4, 8, generator=generator)
    model = make_retriever(prototypes, topk=7)
    result = model.matching(feats)
    full = torch.nn.functional.normalize(feats, dim=1) @ torch.nn.functional.normalize(prototypes, dim=1).T
    torch.testing.assert_close(result["score"], full, rtol=1e-5, atol=1e-5)
    assert result["pred_label"].shape == (4, 7)
    torch.testing.assert_close(result["pred_score"], torch.gather(full, 1, result["pred_label"]), rtol=1e-5,
                               atol=1e-5)
    assert bool((result["pred_score"][:, :-1] >= result["pred_score"][:, 1:]).all())
    assert result["pred_label"][:, 0].tolist() == full.argmax(1).tolist()


def test_forward_tensor_mode_returns_encoder_output():
    model = make_retriever(torch.eye(3))
    out = model(torch.ones(2, 3), mode="tensor")
    assert isinstance(out, tuple) and torch.equal(out[-1], torch.ones(2, 3))


def test_similarity_fn_property_returns_callable_without_recursion():
    from imret.matching import euclidean
    model = make_retriever(torch.eye(3), similarity_fn="euclidean")
    assert model.similarity_fn is euclidean
    assert model.similarity_fn(torch.zeros(1, 3), torch.ones(1, 3)).item() == pytest.approx(-math.sqrt(3))
