"""ShardedIndex: search over several local indexes equals search over one index holding their union."""
import numpy as np
import pytest

from imret.index import GalleryIndex
from imret.index.sharded import ShardedIndex

PROVENANCE = {"model": "tiny", "weights_sha256": "ab" * 32}


def _vectors(n, dim, seed, duplicates=True):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    if duplicates:  # exact ties, within a shard and across shards
        vectors[7] = vectors[3]
        vectors[n - 2] = vectors[3]
        vectors[n - 5] = vectors[10]
    return vectors


@pytest.mark.parametrize("metric", ["cosine_similarity", "dot_product", "euclidean"])
def test_sharded_search_equals_the_union_index(tmp_path, metric):
    n, dim = 90, 12
    vectors = _vectors(n, dim, seed=1)
    ids = [f"img/{i:03d}.jpg" for i in range(n)]
    meta = [{"path": f"/g/{i}.jpg", "size": i} for i in range(n)]
    cuts = [0, 25, 31, 90]  # uneven shards, one smaller than k
    shards = []
    for number, (lo, hi) in enumerate(zip(cuts, cuts[1:])):
        shard = GalleryIndex.create(str(tmp_path / f"shard{number}"), dim, metric=metric, provenance=PROVENANCE)
        shard.add(ids[lo:hi], vectors[lo:hi], meta[lo:hi])
        shard.save()
        shards.append(GalleryIndex.open(str(tmp_path / f"shard{number}")))
    union = GalleryIndex.create(str(tmp_path / "union"), dim, metric=metric, provenance=PROVENANCE)
    union.add(ids, vectors, meta)
    queries = np.concatenate([vectors[[3, 10, 50]], _vectors(5, dim, seed=2, duplicates=False)])

    sharded = ShardedIndex(shards)
    assert len(sharded) == n and sharded.dim == dim and sharded.metric == metric
    for k in (1, 4, 10, 200):
        expected = union.search(queries, k, backend="exact")
        found = sharded.search(queries, k, backend="exact")
        assert found.ids == expected.ids, k
        # the same dot products, computed by differently shaped matrix products: equal to float rounding
        np.testing.assert_allclose(found.scores, expected.scores, rtol=0, atol=1e-5)
        assert found.metadata == expected.metadata
    # the tie at the query's own vector spans shards 0 and 2: the union's row order decides
    if metric != "dot_product":  # (with dot products, longer vectors can beat the query's own)
        assert sharded.search(vectors[3:4], 3, backend="exact").ids[0] == ["img/003.jpg", "img/007.jpg", "img/088.jpg"]


def test_shards_must_agree_and_hold_disjoint_ids(tmp_path):
    vectors = _vectors(6, 4, seed=3, duplicates=False)

    def shard(name, ids, provenance=PROVENANCE, metric="cosine_similarity", dim=4):
        index = GalleryIndex.create(str(tmp_path / name), dim, metric=metric, provenance=provenance)
        index.add(ids, np.resize(vectors, (len(ids), dim)))
        return index

    a = shard("a", ["x", "y"])
    with pytest.raises(ValueError, match="provenance.*weights_sha256"):
        ShardedIndex([a, shard("b", ["z"], provenance=dict(PROVENANCE, weights_sha256="cd" * 32))])
    with pytest.raises(ValueError, match="metric"):
        ShardedIndex([a, shard("c", ["z"], metric="euclidean")])
    with pytest.raises(ValueError, match="dim 5"):
        ShardedIndex([a, shard("d", ["z"], dim=5)])
    with pytest.raises(ValueError, match="'y' is in shard .*a and in shard .*e"):
        ShardedIndex([a, shard("e", ["z", "y"])])
    with pytest.raises(ValueError, match="at least one"):
        ShardedIndex([])


@pytest.mark.slow
def test_cli_search_with_shards_equals_the_union_index(tmp_path, capsys, shared_datasets_root):
    import json
    import shutil

    from imret.cli.main import main

    photos = sorted((shared_datasets_root / "coral_photos").glob("*.jpg"))[:6]
    for number, photo in enumerate(photos):  # ids "x/..." in shard 1 and "y/..." in shard 2, both in the union
        part = "x" if number % 2 else "y"
        for root in (tmp_path / f"s{1 + number % 2}", tmp_path / "union"):
            (root / part).mkdir(parents=True, exist_ok=True)
            shutil.copy2(photo, root / part / photo.name)
    for name in ("s1", "s2", "union"):
        assert main(["index", str(tmp_path / name), "--out", str(tmp_path / f"{name}.idx"), "--no-progress"]) == 0
    capsys.readouterr()
    query = str(photos[0])

    def search(*argv):
        assert main(["search", *argv, query, "--topk", "5", "--json"]) == 0
        matches = json.loads(capsys.readouterr().out)[0]["matches"]
        return [m["id"] for m in matches], [m["score"] for m in matches]

    ids, scores = search(str(tmp_path / "s1.idx"), "--shard", str(tmp_path / "s2.idx"))
    want_ids, want_scores = search(str(tmp_path / "union.idx"))
    assert ids == want_ids and {i[0] for i in ids} == {"x", "y"}
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    assert main(["search", str(tmp_path / "s1.idx"), "--shard", str(tmp_path / "union.idx"), query]) == 1
    assert "disjoint ids" in capsys.readouterr().err
