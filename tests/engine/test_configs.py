"""The shipped configs build, and their checkpoint rule watches a key the metrics really produce."""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import DefaultScope

from imret.engine import load_config
from imret.registry import HOOKS, METRICS, MODELS
from imret.structures import DataSample



def _metric_keys(evaluator_cfg) -> set:
    """Keys the config's evaluator reports, from a 2-query, 2-item gallery in index form."""
    keys = set()
    for metric_cfg in evaluator_cfg if isinstance(evaluator_cfg, list) else [evaluator_cfg]:
        metric_cfg = dict(metric_cfg, gallery_labels=[0, 1]) if "gallery_labels" in metric_cfg else metric_cfg
        metric = METRICS.build(metric_cfg)
        samples = []
        for index in range(2):
            sample = DataSample(metainfo=dict(sample_idx=index)).set_gt_label(index)
            sample.set_pred_score(torch.tensor([0.9, 0.1]) if index == 0 else torch.tensor([0.2, 0.8]))
            samples.append(sample.to_dict())
        metric.process({}, samples)
        keys.update(metric.evaluate(2))
    return keys


@pytest.mark.parametrize("name", ["arcface/resnet50-arcface_8xb32_inshop", "efficientnet-lite0-arcface_flowers12.py"])
def test_recipe_builds_and_keeps_best_by_recall_at_1(name):
    cfg = load_config(name)  # shipped configs, by name
    assert cfg.default_scope == "imret"
    with DefaultScope.overwrite_default_scope("imret"):
        model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
        hooks = [HOOKS.build(hook) for hook in cfg.custom_hooks]
        keys = _metric_keys(cfg.val_evaluator)
    assert type(model).__name__ == "ImageToImageRetriever"
    assert type(model.head).__name__ == "ArcFaceClsHead"
    assert "PrepareProtoBeforeValLoopHook" in [type(hook).__name__ for hook in hooks]
    assert cfg.default_hooks.checkpoint.save_best == "retrieval/Recall@1"
    assert "retrieval/Recall@1" in keys, keys
    assert cfg.default_hooks.checkpoint.rule == "greater"
    # the gallery is a dataloader config, extracted with the current weights before each validation
    assert isinstance(cfg.model.prototype, dict) and "dataset" in cfg.model.prototype


def test_inshop_recipe_matches_mmpretrain_values():
    cfg = load_config("arcface/resnet50-arcface_8xb32_inshop")
    assert cfg.model.head.num_classes == 3997 and cfg.model.head.in_channels == 2048
    assert [item["type"] for item in cfg.model.image_encoder] == ["ResNet", "GlobalAveragePooling"]
    assert cfg.model.image_encoder[0].depth == 50
    assert cfg.optim_wrapper.optimizer.lr == 0.02 and cfg.optim_wrapper.optimizer.nesterov
    assert cfg.auto_scale_lr.base_batch_size == 256 and cfg.auto_scale_lr.enable
    assert cfg.train_cfg.max_epochs == 100
    assert [s["type"] for s in cfg.param_scheduler] == ["LinearLR", "CosineAnnealingLR"]
    assert [cfg.model.prototype.dataset.split, cfg.val_dataloader.dataset.split,
            cfg.train_dataloader.dataset.split] == ["gallery", "query", "train"]
    assert cfg.train_dataloader.batch_size == 32
