"""Clear errors for wrong modes, names, types, dimensions and files."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from retriever_fixtures import make_retriever


def test_unknown_forward_mode_names_the_valid_ones():
    model = make_retriever(torch.eye(3))
    with pytest.raises(RuntimeError, match="'tensor', 'loss', 'predict'|tensor, loss, predict"):
        model(torch.ones(1, 3), mode="features")


def test_unknown_similarity_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        make_retriever(torch.eye(3), similarity_fn="cosine")
    message = str(info.value)
    for name in ("cosine_similarity", "dot_product", "euclidean"):
        assert name in message


@pytest.mark.parametrize("prototype", [[1, 2, 3], 3.5, None, (torch.eye(2),)])
def test_unsupported_prototype_type_names_accepted_types(prototype):
    with pytest.raises(TypeError, match="DataLoader"):
        make_retriever(prototype)


def test_prototype_dimension_mismatch_says_both_numbers():
    model = make_retriever(torch.randn(5, 7))
    with pytest.raises(ValueError, match=r"3.*7|7.*3"):
        model.predict(torch.randn(2, 3))


def test_loss_without_head_is_a_clear_error():
    model = make_retriever(torch.eye(3))
    with pytest.raises(RuntimeError, match="no head"):
        model(torch.ones(2, 3), [], mode="loss")


def test_missing_prototype_file_is_named(tmp_path):
    missing = tmp_path / "nope.pth"
    model = make_retriever(str(missing))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        model.prepare_prototype()


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = ""


def test_pickle_that_is_not_a_tensor_is_refused_and_not_executed(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "executed")
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump(Exploit(), handle)
    model = make_retriever(str(path))
    with pytest.raises(ValueError, match="evil.pth"):
        model.prepare_prototype()
    assert not os.path.exists(MARKER)


def test_pickled_dict_of_non_tensors_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save({"a": [1, 2]}, path)
    with pytest.raises(TypeError, match="list.pth"):
        make_retriever(str(path)).prepare_prototype()


def test_invalid_topk_is_rejected():
    with pytest.raises(ValueError, match="topk"):
        make_retriever(torch.eye(3), topk=0)


def test_dump_to_unknown_suffix_is_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors"):
        make_retriever(torch.eye(3)).dump_prototype(tmp_path / "vecs.txt")


def test_pretrained_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ckpt.pth"):
        make_retriever(torch.eye(3), encoder=torch.nn.Linear(3, 3), pretrained=str(tmp_path / "ckpt.pth"))


def test_pretrained_checkpoint_loads_into_whole_retriever(tmp_path):
    source = make_retriever(torch.eye(3), encoder=torch.nn.Linear(3, 3))
    torch.save({"state_dict": source.state_dict(), "meta": {"epoch": 3}}, tmp_path / "ckpt.pth")
    target = make_retriever(torch.eye(3), encoder=torch.nn.Linear(3, 3), pretrained=str(tmp_path / "ckpt.pth"))
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)
    target.init_weights()
    assert torch.equal(target.image_encoder.weight, source.image_encoder.weight)
