"""PrepareProtoBeforeValLoopHook re-extracts gallery vectors with the weights of the moment."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from imret.engine import PrepareProtoBeforeValLoopHook
from imret.models.retrievers import BaseRetriever
from imret.registry import HOOKS


class _ToyRetriever(BaseRetriever):
    """Gallery vectors = encoder(gallery images); records the mode it was prepared in."""

    def __init__(self, gallery: torch.Tensor):
        super().__init__(prototype=gallery)
        self.encoder = nn.Linear(gallery.shape[1], 2, bias=False)
        self.dropout = nn.Dropout(p=0.5)
        self.prepared_in_training_mode: list[bool] = []

    def forward(self, inputs, data_samples=None, mode="tensor"):
        return self.encoder(inputs)

    @torch.no_grad()
    def prepare_prototype(self):
        self.prepared_in_training_mode.append(self.training)
        self.prototype_vecs = self.dropout(self.encoder(self.prototype))
        self.prototype_inited = True


def _runner(model):
    return SimpleNamespace(model=model)


def test_registered_under_its_mmpretrain_name():
    assert HOOKS.get("PrepareProtoBeforeValLoopHook") is PrepareProtoBeforeValLoopHook
    assert isinstance(HOOKS.build(dict(type="PrepareProtoBeforeValLoopHook")), PrepareProtoBeforeValLoopHook)


@pytest.mark.parametrize("stage", ["before_val_epoch", "before_test_epoch"])
def test_vectors_follow_the_current_weights(stage):
    torch.manual_seed(0)
    gallery = torch.randn(5, 3)
    model = _ToyRetriever(gallery)
    hook = PrepareProtoBeforeValLoopHook()
    getattr(hook, stage)(_runner(model))
    torch.testing.assert_close(model.prototype_vecs, gallery @ model.encoder.weight.T)

    with torch.no_grad():  # "training" changes the encoder
        model.encoder.weight.add_(1.0)
    getattr(hook, stage)(_runner(model))
    torch.testing.assert_close(model.prototype_vecs, gallery @ model.encoder.weight.T)
    assert model.prototype_inited


def test_prepares_in_eval_mode_and_restores_the_mode():
    model = _ToyRetriever(torch.randn(4, 3))
    hook = PrepareProtoBeforeValLoopHook()
    model.train()
    hook.before_val_epoch(_runner(model))
    assert model.prepared_in_training_mode == [False]  # dropout off: deterministic vectors
    assert model.training and model.dropout.training
    model.eval()
    hook.before_test_epoch(_runner(model))
    assert not model.training


def test_unwraps_model_wrappers():
    model = _ToyRetriever(torch.randn(4, 3))
    PrepareProtoBeforeValLoopHook().before_val_epoch(_runner(nn.DataParallel(model)))
    assert model.prepared_in_training_mode == [False]
    torch.testing.assert_close(model.prototype_vecs, model.prototype @ model.encoder.weight.T)


def test_other_models_are_left_alone_with_a_warning():
    model = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match="only works with retrievers"):
        PrepareProtoBeforeValLoopHook().before_val_epoch(_runner(model))
    assert model.training


def test_mode_restored_when_preparation_fails():
    model = _ToyRetriever(torch.randn(4, 5))
    model.prototype = torch.randn(4, 7)  # wrong width: the encoder raises
    model.train()
    with pytest.raises(RuntimeError):
        PrepareProtoBeforeValLoopHook().before_val_epoch(_runner(model))
    assert model.training


def test_runs_after_buffer_synchronisation():
    from mmengine.hooks import SyncBuffersHook
    from mmengine.runner.priority import get_priority

    ours = PrepareProtoBeforeValLoopHook()
    # mmengine calls the hooks of a stage by priority, smaller values first
    assert get_priority(ours.priority) > get_priority(SyncBuffersHook.priority)
    assert set(ours.get_triggered_stages()) == {"before_val_epoch", "before_test_epoch"}
