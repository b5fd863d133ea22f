"""The ``imret`` command: one entry point, one module per subcommand.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a function ``(args) -> int`` (the exit code: 0 ok, 1 bad input). Subcommand modules
import nothing heavy at module level (torch, mmengine, faiss, onnxruntime, openvino, fastapi): those
load inside ``func``, so ``--help``, ``--version`` and argument errors answer at once.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from typing import Sequence

from imret.version import __version__

from .bad_input import fail
from .output import add_global_options, configure_output

SUBCOMMANDS = ("train", "test", "index", "search", "models", "demo", "serve", "export", "verify", "evaluate", "finetune")
# Commands that leave nothing to clean up when they return (files closed, no worker processes): as the
# program they end without the interpreter's teardown, which takes seconds once torch is loaded.
FAST_EXIT = frozenset({"index", "search", "models"})


def build_parser() -> argparse.ArgumentParser:
    """The ``imret`` parser with every subcommand and the global options."""
    parser = argparse.ArgumentParser(prog="imret", description="Image-to-image retrieval toolbox.")
    parser.add_argument("--version", action="version", version=f"imret {__version__}")
    add_global_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"imret.cli.{name}").register(subparsers)
    seen = set()
    for subparser in subparsers.choices.values():
        if id(subparser) not in seen:  # aliases share one parser
            seen.add(id(subparser))
            add_global_options(subparser, suppress_defaults=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imret`` with ``argv`` (default: the program's arguments); returns the exit code.

    Called without ``argv`` (as the program), commands in ``FAST_EXIT`` end the process themselves
    once their output is flushed.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_output(args)
    from imret.utils.threads import configure_threads

    try:
        configure_threads()
    except ValueError as error:
        return fail(args.command, str(error))
    code = int(args.func(args) or 0)
    if argv is None:
        if args.command in FAST_EXIT:
            _exit_now(code)
        gc.freeze()  # the final collection at exit then skips the objects of every loaded module
    return code


def _exit_now(code: int) -> None:
    """End the process with ``code`` after flushing stdout and stderr, skipping the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing more can be written anyway
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
