"""`imret index --dba` and `imret search --rerank` on real photos (UKBench: 4 views per object)."""
import json
import shutil

import numpy as np
import pytest

from imret.cli.main import main
from imret.index.gallery import GalleryIndex
from imret.rerank import GalleryView, dba_vectors, parse_reranks, rerank_search

OBJECTS = 4


@pytest.fixture(scope="module")
def ukbench_indexes(tmp_path_factory, request):
    root = request.config.rootpath.parent / "shared" / "datasets" / "ukbench"
    if not root.is_dir():
        pytest.skip(f"real data {root} not found")
    work = tmp_path_factory.mktemp("ukb")
    gallery = work / "gallery"
    gallery.mkdir()
    for n in range(OBJECTS * 4):
        shutil.copyfile(root / f"ukbench{n:05d}.jpg", gallery / f"ukbench{n:05d}.jpg")
    assert main(["index", str(gallery), "--out", str(work / "plain"), "--no-progress"]) == 0
    shutil.copytree(work / "plain", work / "dba")
    return gallery, work


def test_index_dba_records_provenance_and_matches_reference(ukbench_indexes, capsys):
    gallery, work = ukbench_indexes
    raw = np.array(GalleryIndex.open(str(work / "plain")).vectors())
    assert main(["index", str(gallery), "--out", str(work / "dba"), "--dba", "k=2,alpha=1", "--json",
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dba"] == {"k": 2, "alpha": 1.0}
    index = GalleryIndex.open(str(work / "dba"))
    assert index.provenance["gallery_transform"] == {"dba": {"k": 2, "alpha": 1.0}}
    assert index.ids == GalleryIndex.open(str(work / "plain")).ids
    np.testing.assert_allclose(index.vectors(), dba_vectors(raw, "cosine_similarity", 2, 1.0), atol=1e-6)
    assert index.get_metadata(index.ids[:1])[0]["path"].endswith(index.ids[0])
    # a DBA index is not updated incrementally
    assert main(["index", str(gallery), "--out", str(work / "dba"), "--no-progress"]) == 1
    assert "cannot be updated incrementally" in capsys.readouterr().err


def test_search_rerank_matches_library_and_finds_views(ukbench_indexes, capsys):
    gallery, work = ukbench_indexes
    queries = [str(gallery / f"ukbench{n:05d}.jpg") for n in (0, 5, 10)]
    for index_dir in ("plain", "dba"):
        argv = ["search", str(work / index_dir), *queries, "--topk", "4", "--json", "--rerank", "alpha-qe:k=2,alpha=3",
                "--rerank", "k-reciprocal:k1=4,k2=2,lambda=0.3", "--shortlist", "12"]
        assert main(argv) == 0
        found = json.loads(capsys.readouterr().out)
        index = GalleryIndex.open(str(work / index_dir))
        from imret.apis.searcher import IndexSearcher
        vectors = IndexSearcher(str(work / index_dir)).encode_queries(queries)
        chain = parse_reranks(["alpha-qe:k=2,alpha=3", "k-reciprocal:k1=4,k2=2,lambda=0.3"])
        scores, rows = rerank_search(vectors, GalleryView(np.asarray(index.vectors())), chain, 4, 12)
        for entry, want_rows, want_scores in zip(found, rows, scores):
            assert [m["id"] for m in entry["matches"]] == [index.ids[r] for r in want_rows]
            np.testing.assert_allclose([m["score"] for m in entry["matches"]], want_scores, atol=1e-5)
            assert entry["matches"][0]["id"] == entry["query"].rsplit("/", 1)[1]
        same_object = [sum(int(m["id"][7:12]) // 4 == int(e["query"][-9:-4]) // 4 for m in e["matches"])
                       for e in found]
        assert sum(same_object) >= 10  # of 12 possible


def test_search_rerank_bad_spec_is_one_line_error(ukbench_indexes, capsys):
    gallery, work = ukbench_indexes
    assert main(["search", str(work / "plain"), str(gallery / "ukbench00000.jpg"), "--rerank", "qe:k=x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("imret search: error:") and "k must be a number" in err and "\n" not in err
    assert main(["search", str(work / "plain"), str(gallery / "ukbench00000.jpg"), "--rerank",
                 "k-reciprocal:k1=30", "--shortlist", "10"]) == 1
    assert "shortlist longer than k1" in capsys.readouterr().err


def test_search_rerank_on_milvus_lite_equals_local(ukbench_indexes, capsys):
    """Re-ranking reads the gallery through the back-end interface, so a Milvus index re-ranks like a local one."""
    gallery, work = ukbench_indexes
    uri = f"milvus-lite:{work / 'rerank.db'}"
    assert main(["index", str(gallery), "--out", uri, "--no-progress"]) == 0
    capsys.readouterr()
    queries = [str(gallery / f"ukbench{n:05d}.jpg") for n in (0, 5, 10)]
    options = ["--topk", "4", "--json", "--rerank", "k-reciprocal:k1=4,k2=2,lambda=0.3", "--shortlist", "12"]
    found = {}
    for name, target in (("local", str(work / "plain")), ("milvus", uri)):
        assert main(["search", target, *queries, *options]) == 0
        found[name] = json.loads(capsys.readouterr().out)
    for local, milvus in zip(found["local"], found["milvus"]):
        assert [m["id"] for m in milvus["matches"]] == [m["id"] for m in local["matches"]]
        np.testing.assert_allclose([m["score"] for m in milvus["matches"]], [m["score"] for m in local["matches"]],
                                   atol=1e-4)
