"""The four prototype types, dump/reload round trips, and distributed extraction."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from retriever_fixtures import TupleLinear, ToyVectorDataset, loader_config, make_retriever
from torch.utils.data import DataLoader

from mmengine.dataset import default_collate


@pytest.fixture
def gallery_npy(tmp_path):
    vectors = np.random.default_rng(0).standard_normal((11, 6)).astype(np.float32)
    path = tmp_path / "gallery.npy"
    np.save(path, vectors)
    return str(path)


def expected_vectors(npy_path: str) -> torch.Tensor:
    with torch.no_grad():
        return TupleLinear(6, 4)(torch.from_numpy(np.load(npy_path)))[0]


def test_four_prototype_types_give_identical_vectors(gallery_npy, tmp_path):
    reference = expected_vectors(gallery_npy)
    pth = tmp_path / "plain.pth"
    torch.save(reference.clone(), pth)
    loader = DataLoader(ToyVectorDataset(gallery_npy), batch_size=4, collate_fn=default_collate)
    prototypes = [reference.clone(), str(pth), loader, loader_config(gallery_npy)]
    for prototype in prototypes:
        model = make_retriever(prototype, encoder=TupleLinear(6, 4))
        model.prepare_prototype()
        assert model.prototype_inited
        torch.testing.assert_close(model.prototype_vecs, reference, rtol=1e-6, atol=1e-6)


def test_loader_prototype_is_placed_by_sample_idx(gallery_npy):
    dataset = ToyVectorDataset(gallery_npy)
    shuffled = DataLoader(dataset, batch_size=3, shuffle=True, collate_fn=default_collate,
                          generator=torch.Generator().manual_seed(1))
    model = make_retriever(shuffled, encoder=TupleLinear(6, 4))
    model.prepare_prototype()
    torch.testing.assert_close(model.prototype_vecs, expected_vectors(gallery_npy), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_dump_and_reload_give_identical_predictions(gallery_npy, tmp_path, suffix):
    queries = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
    model = make_retriever(loader_config(gallery_npy), encoder=TupleLinear(6, 4), topk=4)
    before = model.predict(queries)
    path = tmp_path / f"dump{suffix}"
    model.dump_prototype(path)
    reloaded = make_retriever(str(path), encoder=TupleLinear(6, 4), topk=4)
    after = reloaded.predict(queries)
    for first, second in zip(before, after):
        assert torch.equal(first.pred_score, second.pred_score)
        assert torch.equal(first.pred_label, second.pred_label)


def test_dumped_pth_is_a_plain_tensor_readable_by_torch(gallery_npy, tmp_path):
    model = make_retriever(loader_config(gallery_npy), encoder=TupleLinear(6, 4))
    model.dump_prototype(tmp_path / "vecs.pth")
    loaded = torch.load(tmp_path / "vecs.pth", weights_only=True)
    assert isinstance(loaded, torch.Tensor)
    torch.testing.assert_close(loaded, expected_vectors(gallery_npy), rtol=1e-6, atol=1e-6)


def test_safetensors_dump_records_metadata(gallery_npy, tmp_path):
    from safetensors import safe_open
    model = make_retriever(loader_config(gallery_npy), encoder=TupleLinear(6, 4), similarity_fn="euclidean")
    model.dump_prototype(tmp_path / "vecs.safetensors")
    with safe_open(str(tmp_path / "vecs.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["similarity_fn"] == "euclidean"
    assert meta["count"] == "11" and meta["dim"] == "4"


def test_prototype_vectors_follow_the_model_and_stay_out_of_state_dict(gallery_npy):
    model = make_retriever(torch.eye(3))
    model.prepare_prototype()
    assert "prototype_vecs" not in model.state_dict()
    assert model.prototype_vecs.dtype == torch.float32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _distributed_worker(rank: int, world_size: int, port: int, npy_path: str, out_dir: str) -> None:
    import torch.distributed as torch_dist
    from mmengine.dataset import DefaultSampler
    torch_dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                  world_size=world_size)
    try:
        dataset = ToyVectorDataset(npy_path)
        sampler = DefaultSampler(dataset, shuffle=False)
        loader = DataLoader(dataset, batch_size=2, sampler=sampler, collate_fn=default_collate)
        model = make_retriever(loader, encoder=TupleLinear(6, 4))
        model.prepare_prototype()
        torch.save(model.prototype_vecs, os.path.join(out_dir, f"rank{rank}.pth"))
        torch.save(torch.tensor(list(iter(sampler))), os.path.join(out_dir, f"indices{rank}.pth"))
    finally:
        torch_dist.destroy_process_group()


def test_two_process_extraction_equals_one_process_without_double_counting(gallery_npy, tmp_path):
    mp.spawn(_distributed_worker, args=(2, _free_port(), gallery_npy, str(tmp_path)), nprocs=2, join=True)
    indices = torch.cat([torch.load(tmp_path / f"indices{rank}.pth") for rank in range(2)])
    assert len(indices) == 12 and len(set(indices.tolist())) == 11, "the sampler must pad with a duplicate"
    reference = expected_vectors(gallery_npy)
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f"rank{rank}.pth"), reference, rtol=1e-6, atol=1e-6)
