"""Running an mmengine job for ``imret train`` / ``imret test``: bad input becomes one line and exit 1.

mmengine's logger prints the environment, the config and the hook table to stdout; during the job
stdout is sent to stderr so that a command's stdout carries only its results. The same log is kept in
the work directory. When the ``imret`` logger is set above INFO (quiet), the console copy is dropped.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import pickle
import sys
from typing import Any, Callable, TextIO

from .bad_input import EXIT_OK, fail

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``test``."""
    parser.add_argument("--data-root", metavar="DIR",
                        help="folder holding the datasets of shipped configs (default: $IMRET_DATA_ROOT, "
                             "else ~/imret_data)")
    parser.add_argument("--cfg-options", nargs="+", metavar="KEY=VALUE",
                        help="override config entries, e.g. train_cfg.max_epochs=2 "
                             "optim_wrapper.optimizer.lr=0.01 (lists: key=[a,b])")
    parser.add_argument("--launcher", choices=LAUNCHERS, default="none",
                        help="job launcher for multi-process runs (pytorch for torchrun)")


def parse_cfg_options(values: list[str] | None) -> dict | None:
    """``KEY=VALUE`` strings as mmengine's ``--cfg-options`` dictionary (values parsed the same way)."""
    if not values:
        return None
    from mmengine.config import DictAction

    for value in values:
        if "=" not in value:
            raise ValueError(f"--cfg-options {value}: expected KEY=VALUE")
    namespace = argparse.Namespace()
    DictAction(option_strings=[], dest="options")(None, namespace, values)
    return namespace.options


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _log_stream() -> TextIO:
    """Where mmengine's console log goes: stderr, or nowhere when the imret logger is quiet."""
    level = logging.getLogger("imret").level
    return _Discard() if level > logging.INFO else sys.stderr


def run_engine_job(command: str, build: Callable[[], Any], work: Callable[[Any], Any],
                   unreadable_hint: str = "") -> tuple[int, Any]:
    """``(exit code, work(runner))`` where ``build()`` returns the runner; every process leaves its group.

    Config and data errors while building, unreadable images and refused checkpoints while working
    are reported as bad input (exit code 1, result None). Nothing of the job is printed on stdout.
    """
    with contextlib.redirect_stdout(_log_stream()):
        return _run(command, build, work, unreadable_hint)


def _run(command: str, build: Callable[[], Any], work: Callable[[Any], Any],
         unreadable_hint: str) -> tuple[int, Any]:
    from imret.datasets.transforms import UnreadableImageError
    from imret.engine.checkpoint_safety import refusal_reason
    from imret.engine.runner import EngineConfigError, shutdown_distributed

    try:
        runner = build()
    except (EngineConfigError, FileNotFoundError, KeyError, ValueError) as error:
        shutdown_distributed()
        return fail(command, error.args[0] if isinstance(error, KeyError) and error.args else str(error)), None
    try:
        result = work(runner)
    except UnreadableImageError as error:
        shutdown_distributed()
        return fail(command, f"{error}{unreadable_hint}"), None
    except pickle.UnpicklingError as error:
        shutdown_distributed()
        return fail(command, f"checkpoint {runner.cfg.get('load_from')} was refused by weights-only loading "
                             f"({refusal_reason(error)}); imret loads only checkpoints made of tensors and "
                             "the few data types its own training writes"), None
    except BaseException:
        shutdown_distributed()
        raise
    shutdown_distributed(wait=True)
    return EXIT_OK, result
