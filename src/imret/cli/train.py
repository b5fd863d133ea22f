"""``imret train CONFIG``: train a model from an mmengine config (mmpretrain's tools/train.py)."""
from __future__ import annotations

import argparse

from .engine_job import add_common_options, parse_cfg_options, run_engine_job


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train", help="train a model from a config",
        description="Train a model from an mmengine Python config (a file, or the name of a config shipped "
                    "with imret such as arcface/efficientnet-lite0-arcface_flowers12). Checkpoints and logs "
                    "go to the work directory; the log is also printed on stderr. Multi-process: "
                    "torchrun --nproc_per_node=N -m imret.cli.main train CONFIG --launcher pytorch")
    parser.add_argument("config", help="config file, or the name of a shipped config")
    parser.add_argument("--work-dir", help="directory for logs and checkpoints (default: work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                        help="resume training: from CHECKPOINT, or without a value from the latest checkpoint "
                             "of the work directory (starting afresh when it has none)")
    parser.add_argument("--amp", action="store_true", help="mixed-precision training (needs a CUDA GPU)")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale the learning rate by the actual total batch size (config's auto_scale_lr)")
    parser.add_argument("--no-validate", action="store_true",
                        help="do not validate during training (drops val_dataloader, val_evaluator, val_cfg)")
    parser.add_argument("--no-pin-memory", action="store_true",
                        help="set pin_memory=False on every dataloader")
    parser.add_argument("--no-persistent-workers", action="store_true",
                        help="set persistent_workers=False on every dataloader")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train; exit code 0 when training finished, 1 on bad input."""

    def build():
        from imret.engine.runner import (EngineConfigError, build_runner, check_datasets, configure_dataloaders,
                                         configure_training, load_config)

        cfg = load_config(args.config, parse_cfg_options(args.cfg_options), data_root=args.data_root)
        configure_training(cfg, args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                           auto_scale_lr=args.auto_scale_lr, launcher=args.launcher,
                           validate=not args.no_validate)
        configure_dataloaders(cfg, pin_memory=False if args.no_pin_memory else None,
                              persistent_workers=False if args.no_persistent_workers else None)
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
