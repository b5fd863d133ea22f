"""``imret test CONFIG CHECKPOINT``: evaluate a trained model (mmpretrain's tools/test.py)."""
from __future__ import annotations

import argparse
import json

from .engine_args import LAUNCHERS, ConfigOptionsAction
from .engine_job import run_engine_job


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``test`` subcommand."""
    parser = subparsers.add_parser(
        "test", help="evaluate a checkpoint with the config's test loop",
        description="Load CHECKPOINT into the model of CONFIG and run the test dataloader and evaluator; "
                    "prints the metrics as JSON.")
    parser.add_argument("config", help="path of the Python config file")
    parser.add_argument("checkpoint", help="checkpoint file (.pth) to evaluate")
    parser.add_argument("--work-dir", help="directory for logs (default: work_dirs/<config name>)")
    parser.add_argument("--cfg-options", nargs="+", action=ConfigOptionsAction, metavar="KEY=VALUE",
                        help="override config entries, e.g. test_dataloader.batch_size=16")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none",
                        help="job launcher for multi-process evaluation (pytorch for torchrun)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate; exit code 0 with the metrics printed, 1 on bad input."""
    from mmengine.dist import get_rank

    from imret.engine.runner import build_runner, check_datasets, configure_testing, load_config

    def build():
        cfg = load_config(args.config, args.cfg_options)
        configure_testing(cfg, args.config, args.checkpoint, work_dir=args.work_dir, launcher=args.launcher)
        check_datasets(cfg, ("test_dataloader",))
        return build_runner(cfg)

    code, result = run_engine_job("test", build, lambda runner: (runner.test(), get_rank()))
    if code == 0 and result[1] == 0:
        metrics = result[0]
        print(json.dumps({key: _plain(value) for key, value in metrics.items()}, indent=2))
    return code


def _plain(value):
    """A metric value as JSON-friendly Python data."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value if isinstance(value, (int, float, str, list, dict)) or value is None else str(value)
