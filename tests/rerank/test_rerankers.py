"""Each re-ranker against its brute-force reference on small random data (shortlist = whole gallery)."""
import numpy as np
import pytest

from imret.rerank import (AlphaQueryExpansion, AverageQueryExpansion, GalleryView, KReciprocalReranker,
                          dba_vectors, parse_dba, parse_rerank, parse_reranks, rerank_search)

import rerank_reference as ref


def data(seed=0, queries=6, gallery=40, dim=16):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((queries, dim)).astype(np.float32), rng.standard_normal((gallery, dim)).astype(np.float32)


@pytest.mark.parametrize("spec,k,alpha", [("qe:k=2", 2, 0.0), ("qe:k=5", 5, 0.0),
                                          ("alpha-qe:k=3,alpha=3", 3, 3.0), ("alpha-qe:k=4,alpha=0.5", 4, 0.5)])
def test_query_expansion_equals_reference(spec, k, alpha):
    q, g = data()
    view = GalleryView(g, "cosine_similarity")
    scores, rows = rerank_search(q, view, parse_reranks(spec), topk=len(g), shortlist=len(g))
    for i in range(len(q)):
        want_scores, want_rows = ref.query_expansion(q[i], g, k, alpha, len(g))
        assert rows[i].tolist() == want_rows
        np.testing.assert_allclose(scores[i], want_scores, atol=1e-5)


def test_query_expansion_leave_one_out_never_returns_the_query():
    _, g = data(1)
    view = GalleryView(g, "cosine_similarity")
    rows_in = np.arange(8)
    scores, rows = rerank_search(g[rows_in], view, [AlphaQueryExpansion(3, 3.0)], topk=39, shortlist=39,
                                 exclude=rows_in)
    for i in rows_in:
        want_scores, want_rows = ref.query_expansion(g[i], g, 3, 3.0, 39, skip=i)
        assert rows[i].tolist() == want_rows and i not in rows[i]
        np.testing.assert_allclose(scores[i], want_scores, atol=1e-5)


@pytest.mark.parametrize("k,alpha", [(1, 0.0), (5, 0.0), (5, 3.0)])
def test_dba_equals_reference(k, alpha):
    _, g = data(2, gallery=57)
    got = dba_vectors(g, "cosine_similarity", k, alpha, block_rows=10)  # several blocks
    np.testing.assert_allclose(got, ref.dba(g, k, alpha), atol=1e-5)


@pytest.mark.parametrize("k1,k2,lam", [(10, 3, 0.1), (5, 1, 0.3), (4, 6, 0.0)])
def test_k_reciprocal_equals_reference(k1, k2, lam):
    q, g = data(3, gallery=45)
    view = GalleryView(g, "cosine_similarity")
    scores, rows = rerank_search(q, view, [KReciprocalReranker(k1, k2, lam)], topk=len(g), shortlist=len(g))
    for i in range(len(q)):
        final = ref.k_reciprocal(q[i], g, k1, k2, lam)
        want = np.argsort(final, kind="stable")
        assert rows[i].tolist() == want.tolist()
        np.testing.assert_allclose(-scores[i], final[want], atol=1e-5)


def test_k_reciprocal_changes_the_order_and_shortlist_subset_is_reranked_within_itself():
    q, g = data(4, gallery=60)
    view = GalleryView(g, "cosine_similarity")
    plain = rerank_search(q, view, [], topk=20, shortlist=20)[1]
    scores, rows = rerank_search(q, view, [KReciprocalReranker(5, 2, 0.2)], topk=20, shortlist=20)
    assert (np.sort(rows, axis=1) == np.sort(plain, axis=1)).all()  # same shortlist, new order
    assert (rows != plain).any()
    for i in range(len(q)):  # reference on [q; shortlist]
        members = np.sort(plain[i])
        final = ref.k_reciprocal(q[i], g[members], 5, 2, 0.2)
        assert rows[i].tolist() == members[np.argsort(final, kind="stable")].tolist()


def test_deterministic_and_finite():
    q, g = data(5, gallery=80)
    view = GalleryView(g, "cosine_similarity")
    chain = parse_reranks(["alpha-qe:k=3,alpha=3", "k-reciprocal:k1=10,k2=3,lambda=0.1"])
    first = rerank_search(q, view, chain, topk=10, shortlist=50)
    second = rerank_search(q, view, chain, topk=10, shortlist=50)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert np.isfinite(first[0]).all()
    # duplicated gallery rows and a zero vector stay NaN-free
    g2 = np.concatenate([g[:10], g[:10], np.zeros((1, g.shape[1]), np.float32)])
    out = rerank_search(g2[:3], GalleryView(g2, "cosine_similarity"), chain, topk=5, shortlist=20)
    assert np.isfinite(out[0]).all()


def test_too_small_gallery_and_bad_specs_give_clear_errors():
    q, g = data(6, gallery=4)
    view = GalleryView(g, "cosine_similarity")
    with pytest.raises(ValueError, match="k=5 needs at least 5"):
        rerank_search(q, view, [AverageQueryExpansion(5)], topk=2, shortlist=100)
    with pytest.raises(ValueError, match="shortlist longer than k1"):
        rerank_search(q, view, [KReciprocalReranker(10, 3, 0.1)], topk=2, shortlist=100)
    with pytest.raises(ValueError, match="needs at least 6 gallery items"):
        dba_vectors(g, "cosine_similarity", 5)
    with pytest.raises(ValueError, match="unknown re-ranker 'foo'"):
        parse_rerank("foo:k=1")
    with pytest.raises(ValueError, match="k must be a number"):
        parse_rerank("qe:k=abc")
    with pytest.raises(ValueError, match="positive integer"):
        parse_rerank("qe:k=0")
    with pytest.raises(ValueError, match="k is required"):
        parse_dba("alpha=3")
    with pytest.raises(ValueError, match="cosine_similarity or dot_product"):
        GalleryView(g, "euclidean")
    assert parse_rerank("k-reciprocal:k1=10,k2=3,lambda=0.1").describe() == "k-reciprocal:k1=10,k2=3,lambda=0.1"
    assert parse_dba("k=5,alpha=3") == {"k": 5, "alpha": 3.0}
