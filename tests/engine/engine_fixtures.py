"""Tiny image folders and configs for engine tests (ResNet-18 + ArcFace on 32x32 images, CPU)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CLASS_COLOURS = ((140, 120, 120), (120, 140, 120), (120, 120, 140))


def make_tiny_images(root: Path, train_per_class: int = 8, test_per_class: int = 4, seed: int = 0) -> Path:
    """``root/train/<class>/*.png`` and ``root/test/<class>/*.png``: noisy 32x32 images, 3 classes."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, colour in enumerate(CLASS_COLOURS):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                pixels = np.asarray(colour, dtype=np.float64) + rng.normal(0.0, 60.0, (32, 32, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"img{index}.png")
    return root


def write_tiny_config(path: Path, data_root: Path, max_epochs: int = 1, load_options: str = "",
                      validate: bool = True, runtime: bool = True) -> Path:
    """A complete imret config training on ``data_root/train`` and validating test-vs-test.

    ``runtime=False`` leaves out the runtime part (default_scope, default_hooks, env_cfg, randomness)
    for a config that inherits it from a runtime base.
    """
    val_interval = 1 if validate else 1000
    text = f"""
data_root = {str(data_root)!r}
train_pipeline = [dict(type='LoadImageFromFile'{load_options}), dict(type='RandomFlip', prob=0.5),
                  dict(type='PackInputs')]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(batch_size=4, num_workers=0,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
test_dataset = dict(type='CustomDataset', data_root=data_root, data_prefix='test', pipeline=test_pipeline)
val_dataloader = dict(batch_size=4, num_workers=0, dataset=test_dataset,
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = [dict(type='RetrievalRecall', topk=(1, 2), gallery_labels=test_dataset, exclude_self=True),
                 dict(type='RetrievalAveragePrecision', gallery_labels=test_dataset, exclude_self=True)]
test_evaluator = val_evaluator
model = dict(type='ImageToImageRetriever',
    image_encoder=[dict(type='ResNet', depth=18), dict(type='GlobalAveragePooling')],
    head=dict(type='ArcFaceClsHead', num_classes=3, in_channels=512, loss=dict(type='CrossEntropyLoss')),
    prototype=val_dataloader,
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0], to_rgb=True))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', milestones=[1], gamma=0.5, by_epoch=True, begin=0, end=10)]
train_cfg = dict(by_epoch=True, max_epochs={max_epochs}, val_interval={val_interval})
val_cfg = dict()
test_cfg = dict()
# SyncBuffersHook: every rank validates with the BN statistics the checkpoint saves
custom_hooks = [dict(type='PrepareProtoBeforeValLoopHook'), dict(type='SyncBuffersHook')]
"""
    if runtime:
        text += """
default_scope = 'imret'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='retrieval/Recall@1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
"""
    path.write_text(text)
    return path


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_torchrun(args: list[str], nproc: int = 2, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node=nproc -m imret.cli.main ARGS`` on the loopback interface."""
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "imret.cli.main", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
