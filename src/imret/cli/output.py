"""What the command line writes where: results on stdout, messages and progress on stderr.

``-q`` keeps stderr to warnings and errors, ``-v`` adds debug lines (timings). Progress bars and
status lines (``loading model ...``) appear when stderr is a terminal, with ``--progress``, or with
``-v``; so a script that redirects stderr sees only warnings and errors there.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

LOGGER_NAME = "imret"
log = logging.getLogger(LOGGER_NAME)
_status = {"level": logging.DEBUG}


class _CommandFormatter(logging.Formatter):
    """``imret COMMAND: message``."""

    def __init__(self, command: str):
        super().__init__()
        self.prefix = f"imret {command}:" if command else "imret:"

    def format(self, record: logging.LogRecord) -> str:
        return f"{self.prefix} {record.getMessage()}"


def add_global_options(parser: argparse.ArgumentParser, suppress_defaults: bool = False) -> None:
    """The options every subcommand accepts (before or after the subcommand name)."""
    default = (lambda value: argparse.SUPPRESS) if suppress_defaults else (lambda value: value)
    group = parser.add_argument_group("output options")
    group.add_argument("-v", "--verbose", action="count", default=default(0),
                       help="more messages on stderr (timings of each stage)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False),
                       help="only warnings and errors on stderr (no progress, no progress messages)")
    group.add_argument("--progress", action="store_true", default=default(False),
                       help="show progress even when stderr is not a terminal (one line every few seconds)")
    group.add_argument("--no-progress", action="store_true", default=default(False), help="no progress bars")


def configure_output(args: argparse.Namespace, stream: Optional[Any] = None) -> None:
    """Route imret's log messages to stderr at the level chosen by ``-v``/``-q``."""
    level = logging.WARNING if getattr(args, "quiet", False) else (
        logging.DEBUG if getattr(args, "verbose", 0) else logging.INFO)
    log.setLevel(level)
    log.propagate = False
    for handler in list(log.handlers):
        if getattr(handler, "_imret_cli", False):
            log.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._imret_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(_CommandFormatter(getattr(args, "command", "") or ""))
    log.addHandler(handler)
    _status["level"] = logging.INFO if show_progress(args, handler.stream) else logging.DEBUG


def status(message: str, *args: Any) -> None:
    """A line saying what slow work is starting, shown where progress bars are (see the module doc)."""
    log.log(_status["level"], message, *args)


def show_progress(args: argparse.Namespace, stream: Optional[Any] = None) -> bool:
    """Progress bars wanted: ``--progress``, else on a terminal unless ``-q`` or ``--no-progress``."""
    if getattr(args, "no_progress", False) or getattr(args, "quiet", False):
        return False
    if getattr(args, "progress", False):
        return True
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None (they are not JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def print_json(data: Any, indent: Optional[int] = None) -> None:
    """Print ``data`` as strict JSON (non-finite numbers as null) on stdout."""
    from imret.utils.json_output import dump_json

    print(dump_json(_finite(data), indent=indent))


def process_age_seconds() -> Optional[float]:
    """Seconds since this process started (from /proc; None where that is not available)."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class StageTimer:
    """Wall time of named stages, logged at debug level (``-v``) and kept for ``--timings``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        age = process_age_seconds()
        if age is not None:
            self.stages["start"] = age

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - started
            log.debug("%s: %.3f s", name, self.stages[name])

    def summary(self) -> str:
        """``start 0.41 s, model load 1.20 s, ...``."""
        return ", ".join(f"{name} {seconds:.3f} s" for name, seconds in self.stages.items())
