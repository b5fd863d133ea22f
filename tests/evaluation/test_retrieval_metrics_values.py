"""RetrievalRecall / RetrievalAveragePrecision against hand-computed and brute-force values."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_reference import ap_at, mean_percent, ranking, recall_at
from mmengine.evaluator import Evaluator

from imret.evaluation import RetrievalAveragePrecision, RetrievalRecall
from imret.registry import METRICS
from imret.structures import DataSample


def test_recall_calculate_index_example_from_mmpretrain_docs():
    result = RetrievalRecall.calculate([[0], [1], [2], [3]], [[0, 1], [2], [1], [0, 3]], topk=1,
                                       pred_indices=True, target_indices=True)
    assert len(result) == 1
    assert result[0].item() == pytest.approx(50.0)


def test_recall_calculate_scores_and_multi_hot_by_hand():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.3],    # order 0 1 3 2
                           [0.1, 0.2, 0.7, 0.6],    # order 2 3 1 0
                           [0.5, 0.4, 0.3, 0.2]])   # order 0 1 2 3
    target = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    # first relevant ranks (0-based): 1, 3, 3
    r1, r2, r4 = RetrievalRecall.calculate(scores, target, topk=(1, 2, 4))
    assert (r1.item(), r2.item(), r4.item()) == pytest.approx((0.0, 100 / 3, 100.0))
    as_indices = RetrievalRecall.calculate(scores.numpy(), [[1], [0], [3]], topk=2, target_indices=True)
    assert as_indices[0].item() == pytest.approx(100 / 3)


def test_average_precision_examples_from_mmpretrain_docs():
    pred = [torch.arange(100, dtype=torch.float32)] * 3
    target = [[0, 3, 6, 8, 35], [1, 2, 54, 105], [2, 42, 205]]
    assert RetrievalAveragePrecision.calculate(pred, target, 10, True, True) == pytest.approx(29.246031746031747)
    scores = np.array([np.linspace(0.95, 0.05, 10)] * 2)
    multi_hot = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0, 1, 1]] * 2)
    assert RetrievalAveragePrecision.calculate(scores, multi_hot, 10) == pytest.approx(62.222222222222214)


def test_average_precision_by_hand_ir_integrate_cutoff_and_full():
    # one query, relevant at ranks 1 and 4 (0-based) of 6, 3 relevant items in total (one never retrieved
    # within k=3), gallery index = rank
    scores = torch.tensor([[6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    target = torch.tensor([[0, 1, 0, 0, 1, 1]])
    # IR full: (1/2 + 2/5 + 3/6) / 3
    assert RetrievalAveragePrecision.calculate(scores, target) == pytest.approx(100 * (0.5 + 0.4 + 0.5) / 3)
    # IR @3: only rank 1 is inside the cut; still divided by all 3 relevant items
    assert RetrievalAveragePrecision.calculate(scores, target, topk=3) == pytest.approx(100 * 0.5 / 3)
    # integrate full: rank1 (0/1 + 1/2)/2, rank4 (1/4 + 2/5)/2, rank5 (2/5 + 3/6)/2
    expected = ((0 + 0.5) / 2 + (0.25 + 0.4) / 2 + (0.4 + 0.5) / 2) / 3
    assert RetrievalAveragePrecision.calculate(scores, target, mode="integrate") == pytest.approx(100 * expected)
    # integrate with a hit at rank 0 uses precision 1 "before" it
    first = torch.tensor([[1, 0, 0, 0, 0, 0]])
    assert RetrievalAveragePrecision.calculate(scores, first, mode="integrate") == pytest.approx(100.0)


def _samples(scores, truth, ignore=None, as_labels=False):
    samples = []
    for i, row in enumerate(scores):
        sample = DataSample().set_pred_score(torch.as_tensor(row)).set_gt_label(truth[i])
        sample.set_metainfo(dict(sample_idx=i))
        if ignore is not None and ignore[i] is not None:
            sample.set_metainfo(dict(ignore_gallery_idx=ignore[i]))
        samples.append(sample)
    return samples


def _evaluate(metric, samples, batch_size=3):
    evaluator = Evaluator(metrics=metric)
    for start in range(0, len(samples), batch_size):
        evaluator.process(samples[start:start + batch_size])
    return evaluator.evaluate(len(samples))


def test_metrics_through_evaluator_with_gallery_index_ground_truth_by_hand():
    # gallery of 5; orders: q0 -> 4 3 2 1 0, q1 -> 0 1 2 3 4, q2 -> 2 0 1 3 4
    scores = [[0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5], [0.8, 0.7, 0.9, 0.1, 0.0]]
    truth = [[3], [2, 4], [1]]
    metrics = _evaluate([RetrievalRecall(topk=(1, 2, 3)), RetrievalAveragePrecision(topk=None),
                         RetrievalAveragePrecision(topk=2, mode="integrate")], _samples(scores, truth))
    # first hits: q0 rank 1, q1 rank 2, q2 rank 2
    assert metrics["retrieval/Recall@1"] == pytest.approx(0.0)
    assert metrics["retrieval/Recall@2"] == pytest.approx(100 / 3)
    assert metrics["retrieval/Recall@3"] == pytest.approx(100.0)
    # AP: q0 1/2; q1 (1/3 + 2/5)/2; q2 1/3
    assert metrics["retrieval/mAP"] == pytest.approx(100 * (0.5 + (1 / 3 + 2 / 5) / 2 + 1 / 3) / 3)
    # integrate@2: q0 (0/1 + 1/2)/2 ; q1 nothing in top 2 ; q2 nothing in top 2
    assert metrics["retrieval/mAP@2"] == pytest.approx(100 * (0.25 + 0 + 0) / 3)


def test_label_form_equals_index_form_and_excludes_self():
    # query set == gallery set: labels a a b b a; each image queries the others
    labels = [0, 0, 1, 1, 0]
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(5, 5, generator=generator)
    scores.fill_diagonal_(2.0)  # the query itself would always rank first
    label_metrics = _evaluate([RetrievalRecall(topk=(1, 2), gallery_labels=labels, exclude_self=True),
                               RetrievalAveragePrecision(gallery_labels=labels, exclude_self=True)],
                              _samples(scores, [[label] for label in labels]))
    indices = [[j for j in range(5) if labels[j] == labels[i] and j != i] for i in range(5)]
    index_metrics = _evaluate([RetrievalRecall(topk=(1, 2)), RetrievalAveragePrecision()],
                              _samples(scores, indices, ignore=[[i] for i in range(5)]))
    assert label_metrics == pytest.approx(index_metrics)
    orders = [ranking(scores[i].tolist(), {i}) for i in range(5)]
    assert index_metrics["retrieval/Recall@1"] == pytest.approx(
        mean_percent([recall_at(orders[i], set(indices[i]), 1) for i in range(5)]))
    assert index_metrics["retrieval/mAP"] == pytest.approx(
        mean_percent([ap_at(orders[i], set(indices[i]), None, "IR") for i in range(5)]))
    # without the exclusion the query ranks itself first: Recall@1 is 100 and differs
    naive = _evaluate(RetrievalRecall(topk=1, gallery_labels=labels), _samples(scores, [[x] for x in labels]))
    assert naive["retrieval/Recall@1"] == pytest.approx(100.0)
    assert index_metrics["retrieval/Recall@1"] < 100.0


def test_gt_score_multi_hot_form_and_gallery_labels_from_a_dataset_config(tmp_path):
    from PIL import Image
    for name, count in (("a", 2), ("b", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.new("RGB", (4, 4)).save(tmp_path / name / f"{i}.png")
    scores = torch.tensor([[0.1, 0.9, 0.2, 0.3, 0.4], [0.5, 0.1, 0.2, 0.9, 0.0]])
    dense = []
    for row, relevant in zip(scores, ([0, 1], [2, 3, 4])):
        multi_hot = torch.zeros(5)
        multi_hot[relevant] = 1
        dense.append(DataSample().set_pred_score(row).set_gt_score(multi_hot))
    from_dataset = RetrievalAveragePrecision(gallery_labels=dict(type="CustomDataset", data_root=str(tmp_path)))
    by_labels = _evaluate(from_dataset, _samples(scores, [[0], [1]]))
    by_score = _evaluate(RetrievalAveragePrecision(), dense)
    # q0 order 1 4 3 2 0 -> relevant at ranks 0, 4: (1 + 2/5)/2; q1 order 3 0 2 1 4 -> ranks 0, 2, 4: (1 + 2/3 + 3/5)/3
    expected = 100 * ((1 + 0.4) / 2 + (1 + 2 / 3 + 0.6) / 3) / 2
    assert by_labels["retrieval/mAP"] == pytest.approx(expected)
    assert by_score["retrieval/mAP"] == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["IR", "integrate"])
@pytest.mark.parametrize("topk", [None, 1, 4, 50])
def test_random_batches_equal_brute_force(mode, topk):
    generator = torch.Generator().manual_seed(7)
    num_queries, num_gallery = 23, 37
    scores = torch.rand(num_queries, num_gallery, generator=generator)
    gallery_labels = torch.randint(0, 5, (num_gallery,), generator=generator)
    query_labels = torch.randint(0, 6, (num_queries,), generator=generator)  # label 5: no match, skipped
    ignore = [[int(j) for j in torch.randint(0, num_gallery, (i % 3,), generator=generator)]
              for i in range(num_queries)]
    samples = _samples(scores, [[int(x)] for x in query_labels], ignore=ignore)
    ks = (1, 3) if topk is None else (topk,)
    metrics = _evaluate([RetrievalRecall(topk=ks, gallery_labels=gallery_labels),
                         RetrievalAveragePrecision(topk=topk, mode=mode, gallery_labels=gallery_labels)],
                        samples, batch_size=4)
    recalls, aps = {k: [] for k in ks}, []
    for i in range(num_queries):
        order = ranking(scores[i].tolist(), set(ignore[i]))
        relevant = {j for j in range(num_gallery) if gallery_labels[j] == query_labels[i] and j not in ignore[i]}
        for k in ks:
            recalls[k].append(recall_at(order, relevant, k) if relevant else float("nan"))
        aps.append(ap_at(order, relevant, topk, mode))
    for k in ks:
        assert metrics[f"retrieval/Recall@{k}"] == pytest.approx(mean_percent(recalls[k]))
    key = "retrieval/mAP" if topk is None else f"retrieval/mAP@{topk}"
    assert metrics[key] == pytest.approx(mean_percent(aps))


def test_queries_without_relevant_items_are_left_out_of_the_average():
    scores = [[0.9, 0.1], [0.1, 0.9]]
    metrics = _evaluate([RetrievalRecall(topk=1), RetrievalAveragePrecision()], _samples(scores, [[0], []]))
    assert metrics == pytest.approx({"retrieval/Recall@1": 100.0, "retrieval/mAP": 100.0})


def test_registered_names_build_with_mmpretrain_arguments():
    recall = METRICS.build(dict(type="RetrievalRecall", topk=(1, 5)))
    ap = METRICS.build(dict(type="RetrievalAveragePrecision", topk=20, mode="integrate"))
    assert recall.topk == (1, 5) and recall.prefix == "retrieval"
    assert ap.topk == 20 and ap.mode == "integrate"
    positional = RetrievalRecall((1, 5), "cpu", "val")  # mmpretrain's positional order
    assert positional.topk == (1, 5) and positional.prefix == "val"
    assert RetrievalAveragePrecision(10, "IR", "cpu", "val").prefix == "val"


@pytest.mark.parametrize("build, message", [
    (lambda: RetrievalRecall(topk=0), "topk"),
    (lambda: RetrievalRecall(topk=(1, -2)), "topk"),
    (lambda: RetrievalAveragePrecision(topk=(1, 2)), "topk"),
    (lambda: RetrievalAveragePrecision(mode="voc"), "IR, integrate"),
])
def test_bad_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_ground_truth_is_explained():
    with pytest.raises(ValueError, match="outside the gallery of 2 items"):
        _evaluate(RetrievalRecall(topk=1), _samples([[0.1, 0.2]], [[5]]))
    with pytest.raises(ValueError, match="gallery_labels has 3 labels"):
        _evaluate(RetrievalRecall(topk=1, gallery_labels=[0, 1, 2]), _samples([[0.1, 0.2]], [[1]]))
    with pytest.raises(ValueError, match="no 'pred_score'"):
        RetrievalRecall(topk=1).process(None, [DataSample().set_gt_label([0])])
    with pytest.raises(ValueError, match="same shape"):
        RetrievalAveragePrecision.calculate(torch.rand(2, 3), torch.ones(2, 4))
