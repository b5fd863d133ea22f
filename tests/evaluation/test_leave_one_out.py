"""Leave-one-out evaluation of a labelled folder: hand-computed values, re-ranking, the CLI on real faces."""
import json
import shutil

import numpy as np
import pytest

from imret.apis.evaluate import leave_one_out, read_labelled_folder
from imret.cli.main import main
from imret.rerank import GalleryView, parse_reranks, rerank_search


def test_hand_computed_values():
    # a1 a2 | b1 b2 | c1 (alone): cosines a1.a2=.8 a1.b1=.6 a1.b2=0 a2.b1=.96 a2.b2=.6 b1.b2=.8
    vectors = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1], [-1, 0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 2])
    # a1: a2 first (AP 1); a2: b1, a1 (AP 1/2); b1: a2, b2 (AP 1/2); b2: b1 first (AP 1); c1 has no match
    quality = leave_one_out(vectors, labels)
    assert quality.mAP == pytest.approx(75.0)
    assert quality.recall == {1: pytest.approx(50.0), 5: pytest.approx(100.0), 10: pytest.approx(100.0)}
    assert (quality.queries, quality.skipped) == (4, 1)


def test_ties_follow_the_ranking_rule():
    # item 2 scores items 0 and 1 equally; the irrelevant item 0 (lower index) ranks first
    vectors = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    quality = leave_one_out(vectors, np.array([0, 1, 1]))
    assert quality.mAP == pytest.approx(75.0) and quality.recall[1] == pytest.approx(50.0)


def test_reranked_order_is_shortlist_then_the_rest():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((30, 8)).astype(np.float32)
    labels = np.repeat(np.arange(6), 5)
    spec = "k-reciprocal:k1=4,k2=2,lambda=0.2"
    quality = leave_one_out(vectors, labels, rerank=spec, shortlist=10)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    aps, r1 = [], []
    for i in range(30):
        _, head = rerank_search(vectors[i:i + 1], GalleryView(vectors), parse_reranks(spec), 10, 10,
                                exclude=np.array([i]))
        scores = unit @ unit[i]
        rest = [j for j in np.argsort(-scores, kind="stable") if j != i and j not in head[0]]
        order = list(head[0]) + rest
        rel = [labels[j] == labels[i] for j in order]
        hits = np.cumsum(rel)
        aps.append(sum(hits[r] / (r + 1) for r in range(len(rel)) if rel[r]) / sum(rel))
        r1.append(rel[0])
    assert quality.mAP == pytest.approx(np.mean(aps) * 100)
    assert quality.recall[1] == pytest.approx(np.mean(r1) * 100)
    assert quality.mAP != pytest.approx(leave_one_out(vectors, labels).mAP)


def test_folder_without_class_subfolders_is_an_error(tmp_path, shared_datasets_root):
    shutil.copyfile(shared_datasets_root / "att_faces" / "s1" / "1.pgm", tmp_path / "1.pgm")
    with pytest.raises(ValueError, match="not inside a class sub-folder"):
        read_labelled_folder(tmp_path)
    assert main(["evaluate", str(tmp_path / "missing")]) == 1


def test_cli_on_real_faces(tmp_path, shared_datasets_root, capsys):
    folder = tmp_path / "faces"
    for subject in ("s1", "s2", "s3", "s4", "s5"):
        (folder / subject).mkdir(parents=True)
        for n in range(1, 5):
            shutil.copyfile(shared_datasets_root / "att_faces" / subject / f"{n}.pgm", folder / subject / f"{n}.pgm")
    cache = tmp_path / "vectors.safetensors"
    assert main(["evaluate", str(folder), "--json", "--no-progress", "--cache", str(cache)]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["images"] == 20 and plain["classes"] == 5 and plain["queries"] == 20
    assert plain["Recall@1"] >= 80 and 50 <= plain["mAP"] <= 100 and plain["Recall@5"] >= plain["Recall@1"]
    assert cache.is_file()
    assert main(["evaluate", str(folder), "--json", "--cache", str(cache), "--rerank", "qe:k=1",
                 "--shortlist", "19"]) == 0
    expanded = json.loads(capsys.readouterr().out)
    assert expanded["rerank"] == ["qe:k=1"] and expanded["mAP"] != plain["mAP"]
    assert main(["evaluate", str(folder), "--cache", str(cache), "--rerank", "qe:k=20"]) == 1
    assert "k=20 needs at least 20" in capsys.readouterr().err
