"""The ``imret`` command: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a function ``(args) -> int`` (the exit code: 0 ok, 1 bad input).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

SUBCOMMANDS = ("train", "test", "index", "search", "demo", "serve", "export", "evaluate", "finetune")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imret", description="Image-to-image retrieval toolbox.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"imret.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
