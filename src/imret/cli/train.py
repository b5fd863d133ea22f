"""``imret train CONFIG``: train a model from an mmengine config (mmpretrain's tools/train.py)."""
from __future__ import annotations

import argparse

from .engine_args import LAUNCHERS, ConfigOptionsAction
from .engine_job import run_engine_job


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train a model from a config",
        description="Train a model from an mmengine Python config. Checkpoints and logs go to the work "
                    "directory. Multi-process: torchrun --nproc_per_node=N -m imret.cli.main train CONFIG "
                    "--launcher pytorch")
    parser.add_argument("config", help="path of the Python config file")
    parser.add_argument("--work-dir", help="directory for logs and checkpoints (default: work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                        help="resume training: from CHECKPOINT, or without a value from the latest checkpoint "
                             "of the work directory")
    parser.add_argument("--amp", action="store_true", help="mixed-precision training (needs a CUDA GPU)")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale the learning rate by the actual total batch size (config's auto_scale_lr)")
    parser.add_argument("--cfg-options", nargs="+", action=ConfigOptionsAction, metavar="KEY=VALUE",
                        help="override config entries, e.g. train_cfg.max_epochs=2 "
                             "optim_wrapper.optimizer.lr=0.01 (lists: key=[a,b])")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none",
                        help="job launcher for multi-process training (pytorch for torchrun)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train; exit code 0 when training finished, 1 on bad input."""
    from imret.engine.runner import (EngineConfigError, build_runner, check_datasets, configure_training,
                                     load_config)

    def build():
        cfg = load_config(args.config, args.cfg_options)
        configure_training(cfg, args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                           auto_scale_lr=args.auto_scale_lr, launcher=args.launcher)
        for key in ("train_dataloader", "train_cfg", "optim_wrapper"):
            if cfg.get(key) is None:
                raise EngineConfigError(f"config {args.config} has no `{key}`; training needs train_dataloader, "
                                        "train_cfg and optim_wrapper")
        check_datasets(cfg, ("train_dataloader", "val_dataloader"))
        return build_runner(cfg)

    code, _ = run_engine_job("train", build, lambda runner: runner.train(), unreadable_hint=(
        " (remove or replace the file, or load images with LoadImageFromFile(on_error='skip') to skip "
        "unreadable ones with a warning)"))
    return code
