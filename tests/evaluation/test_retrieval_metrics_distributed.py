"""The retrieval metrics give the same numbers in one process and in two gloo processes."""
from __future__ import annotations

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from imret.evaluation import RetrievalAveragePrecision, RetrievalRecall
from imret.structures import DataSample

NUM_QUERIES, NUM_GALLERY = 11, 9  # odd: the sampler pads one rank with a duplicate query


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _queries() -> list[DataSample]:
    generator = torch.Generator().manual_seed(3)
    scores = torch.rand(NUM_QUERIES, NUM_GALLERY, generator=generator)
    gallery_labels = [j % 3 for j in range(NUM_GALLERY)]
    samples = []
    for i in range(NUM_QUERIES):
        relevant = [j for j in range(NUM_GALLERY) if gallery_labels[j] == i % 4]  # label 3: no match
        sample = DataSample().set_pred_score(scores[i]).set_gt_label(relevant)
        sample.set_metainfo(dict(sample_idx=i, ignore_gallery_idx=[i % NUM_GALLERY]))
        samples.append(sample)
    return samples


def _metrics() -> list:
    return [RetrievalRecall(topk=(1, 2, 5)), RetrievalAveragePrecision(),
            RetrievalAveragePrecision(topk=3, mode="integrate")]


def _evaluate(samples: list[DataSample], indices: list[int], size: int = NUM_QUERIES) -> dict:
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(metrics=_metrics())
    for start in range(0, len(indices), 2):
        evaluator.process([samples[i] for i in indices[start:start + 2]])
    return evaluator.evaluate(size)


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import torch.distributed as torch_dist
    from mmengine.dataset import DefaultSampler
    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        samples = _queries()
        indices = list(iter(DefaultSampler(samples, shuffle=False)))
        metrics = _evaluate(samples, indices)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
            json.dump(dict(metrics=metrics, indices=indices), handle)
    finally:
        torch_dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    single = _evaluate(_queries(), list(range(NUM_QUERIES)))
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    outputs = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    seen = outputs[0]["indices"] + outputs[1]["indices"]
    assert len(seen) == NUM_QUERIES + 1 and len(set(seen)) == NUM_QUERIES, "the sampler must pad with a duplicate"
    assert set(single) == {"retrieval/Recall@1", "retrieval/Recall@2", "retrieval/Recall@5", "retrieval/mAP",
                           "retrieval/mAP@3"}
    for output in outputs:
        assert output["metrics"] == pytest.approx(single, abs=1e-9)
    # counting the padded duplicate would change at least one number
    doubled = _evaluate(_queries(), seen, size=len(seen))
    assert doubled != pytest.approx(single, abs=1e-9) or pytest.fail("test data cannot detect double counting")
