"""A model trained with `imret train` reaches the index: `imret index` + `imret search` rank like `imret test`."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imret.cli.main import main

SPECIES, PER_SPLIT = 3, 4
CONFIG = """
default_scope = 'imret'
data_root = {data_root!r}
train_pipeline = [dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=64), dict(type='CenterCrop', crop_size=56),
                  dict(type='RandomFlip', prob=0.5), dict(type='PackInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=64), dict(type='CenterCrop', crop_size=56),
                 dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
test_dataset = dict(type='CustomDataset', data_root=data_root, data_prefix='test', pipeline=test_pipeline)
test_dataloader = dict(batch_size=4, num_workers=0, dataset=test_dataset, sampler=dict(type='DefaultSampler', shuffle=False))
test_evaluator = [dict(type='RetrievalRecall', topk=1, gallery_labels=test_dataset, exclude_self=True),
                  dict(type='RetrievalAveragePrecision', gallery_labels=test_dataset, exclude_self=True)]
# mmpretrain style: the preprocessor at the top level, not inside the model
data_preprocessor = dict(mean=[120.0, 110.0, 100.0], std=[60.0, 62.0, 64.0], to_rgb=True)
model = dict(type='ImageToImageRetriever',
    image_encoder=[dict(type='ResNet', depth=18), dict(type='GlobalAveragePooling')],
    head=dict(type='ArcFaceClsHead', num_classes={species}, in_channels=512, loss=dict(type='CrossEntropyLoss')),
    prototype=test_dataloader)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
train_cfg = dict(by_epoch=True, max_epochs=1)
test_cfg = dict()
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1), logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='PrepareProtoBeforeValLoopHook')]
randomness = dict(seed=0)
"""


def _metrics_from_search(payload: list[dict]) -> tuple[float, float]:
    """(Recall@1, mAP) in percent from `imret search --json` over the whole gallery, excluding the query."""
    recalls, precisions = [], []
    for entry in payload:
        label = Path(entry["query"]).parent.name
        ranked = [Path(m["path"]).parent.name == label for m in entry["matches"]
                  if Path(m["path"]).resolve() != Path(entry["query"]).resolve()]
        hits = np.cumsum(ranked)
        recalls.append(float(ranked[0]))
        precisions.append(np.mean([hits[i] / (i + 1) for i, relevant in enumerate(ranked) if relevant]))
    return 100 * float(np.mean(recalls)), 100 * float(np.mean(precisions))


def species_first(data):
    """The first test photo's path relative to the test folder."""
    return sorted((data / "test").rglob("*.jpg"))[0].relative_to(data / "test")


def test_trained_checkpoint_indexes_and_searches_like_imret_test(shared_datasets_root, tmp_path, capsys):
    data = tmp_path / "flowers"
    for split in ("train", "test"):
        for species in sorted((shared_datasets_root / "flowers12" / split).iterdir())[:SPECIES]:
            (data / split / species.name).mkdir(parents=True)
            for photo in sorted(species.glob("*.jpg"))[:PER_SPLIT]:
                shutil.copyfile(photo, data / split / species.name / photo.name)
    config = tmp_path / "flowers_tiny.py"
    config.write_text(CONFIG.format(data_root=str(data), species=SPECIES))
    work = tmp_path / "work"

    assert main(["train", str(config), "--work-dir", str(work)]) == 0
    checkpoint = work / "epoch_1.pth"
    assert checkpoint.is_file()
    capsys.readouterr()
    assert main(["test", str(config), str(checkpoint), "--work-dir", str(work), "--json"]) == 0
    tested = json.loads(capsys.readouterr().out)

    index = tmp_path / "index"
    assert main(["index", str(data / "test"), "--out", str(index), "--model", str(config), "--checkpoint",
                 str(checkpoint), "--runtime", "torch", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["search", str(index), str(data / "test"), "--topk", str(SPECIES * PER_SPLIT), "--json",
                 "--model", str(config), "--checkpoint", str(checkpoint), "--runtime", "onnxruntime"]) == 0
    searched = json.loads(capsys.readouterr().out)
    recall, average_precision = _metrics_from_search(searched)
    # without naming the model: the index's own config and the checkpoint it recorded
    assert main(["search", str(index), str(data / "test"), "--topk", str(SPECIES * PER_SPLIT), "--json",
                 "--runtime", "onnxruntime"]) == 0
    assert json.loads(capsys.readouterr().out) == searched
    moved = tmp_path / "moved.pth"
    checkpoint.rename(moved)
    assert main(["search", str(index), str(data / "test" / species_first(data)), "--runtime", "onnxruntime"]) == 1
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["search", str(index), str(data / "test"), "--topk", str(SPECIES * PER_SPLIT), "--json",
                 "--checkpoint", str(moved), "--runtime", "onnxruntime"]) == 0  # where it is does not count
    assert json.loads(capsys.readouterr().out) == searched
    moved.rename(checkpoint)

    assert recall == pytest.approx(tested["retrieval/Recall@1"], abs=0.01)
    assert average_precision == pytest.approx(tested["retrieval/mAP"], abs=0.01)

    from imret.apis.provenance import file_sha256
    from imret.index.gallery import GalleryIndex
    provenance = GalleryIndex.open(index).provenance
    assert provenance["weights_sha256"] == file_sha256(checkpoint)
    assert provenance["encoder"]["data_preprocessor"]["std"] == [60.0, 62.0, 64.0]

    # the reader needs nobody to have installed the checkpoint allowlist first (imret train did, above)
    import torch

    from imret.engine.checkpoint_safety import install_checkpoint_safety
    from imret.models.retrievers.checkpoint import read_state_dict
    torch.serialization.clear_safe_globals()
    try:
        state = read_state_dict(checkpoint)
    finally:
        install_checkpoint_safety()  # as it was for the tests that follow
    assert any(key.endswith("conv1.weight") for key in state) and len(state) > 100


def test_checkpoint_reader_refuses_a_pickle_that_would_run_code(tmp_path):
    import torch

    from imret.models.retrievers.checkpoint import read_state_dict

    class Exploit:
        def __reduce__(self):
            return (print, ("ran code from a checkpoint",))

    hostile = tmp_path / "hostile.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Exploit()}, hostile)
    with pytest.raises(ValueError, match="could not be read safely"):
        read_state_dict(hostile)
