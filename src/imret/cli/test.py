"""``imret test CONFIG CHECKPOINT``: evaluate a trained model (mmpretrain's tools/test.py)."""
from __future__ import annotations

import argparse

from .bad_input import fail
from .engine_job import add_common_options, parse_cfg_options, run_engine_job


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``test`` subcommand."""
    parser = subparsers.add_parser(
        "test", help="evaluate a checkpoint with the config's test loop",
        description="Load CHECKPOINT into the model of CONFIG (a file or a shipped config name) and run the "
                    "test dataloader and evaluator. stdout carries only the metrics; the log goes to stderr "
                    "and the work directory.")
    parser.add_argument("config", help="config file, or the name of a shipped config")
    parser.add_argument("checkpoint", help="checkpoint file (.pth) to evaluate")
    parser.add_argument("--work-dir", help="directory for logs (default: work_dirs/<config name>)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument("--out", metavar="FILE",
                        help="also write the results to FILE (.json or .yaml; imret never writes pickle)")
    parser.add_argument("--out-item", choices=("metrics", "pred"), default=None,
                        help="what --out holds: the metrics, or every query's prediction (default: pred, "
                             "as in mmpretrain)")
    parser.add_argument("--show-dir", metavar="DIR",
                        help="write a match grid (query and its best gallery matches) per test query into DIR")
    parser.add_argument("--interval", type=int, default=1,
                        help="with --show-dir: draw every N-th test query (default: 1, all)")
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate; exit code 0 with the metrics printed, 1 on bad input."""
    out_item = args.out_item or "pred"
    if args.out_item is not None and args.out is None:
        return fail("test", "--out-item needs --out FILE")

    def build():
        from imret.engine.runner import build_runner, check_datasets, configure_testing, load_config
        from imret.engine.test_output import output_format

        if args.out is not None:
            output_format(args.out)
        cfg = load_config(args.config, parse_cfg_options(args.cfg_options), data_root=args.data_root)
        configure_testing(cfg, args.config, args.checkpoint, work_dir=args.work_dir, launcher=args.launcher,
                          show_dir=args.show_dir, interval=args.interval)
        check_datasets(cfg, ("test_dataloader",))
        return build_runner(cfg)

    def work(runner):
        from mmengine.dist import get_rank

        if args.out is not None and out_item == "pred":
            from imret.engine.test_output import PredictionDump

            runner.test_evaluator.metrics.append(PredictionDump(args.out))
        return runner.test(), get_rank()

    code, result = run_engine_job("test", build, work)
    if code != 0 or result[1] != 0:
        return code
    from imret.engine.test_output import plain, write_output

    from .output import print_json

    metrics = plain(dict(result[0]))
    if args.out is not None and out_item == "metrics":
        write_output(args.out, metrics)
    if args.json:
        print_json(metrics, indent=2)
    else:
        width = max((len(key) for key in metrics), default=0)
        for key, value in metrics.items():
            print(f"{key:<{width}}  {value}")
    return code
