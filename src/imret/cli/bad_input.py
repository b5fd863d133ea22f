"""Turning bad input into one line on stderr and exit code 1 (no traceback)."""
from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import Iterator

EXIT_OK = 0
EXIT_BAD_INPUT = 1


class CommandError(Exception):
    """Bad input to a subcommand; the message is shown as is."""


def fail(command: str, message: str) -> int:
    """Print ``imret COMMAND: error: MESSAGE`` (one line) to stderr and return exit code 1."""
    text = " ".join(str(message).split())
    print(f"imret {command}: error: {text}", file=sys.stderr)
    return EXIT_BAD_INPUT


def first_line(error: BaseException) -> str:
    """The error's message (or its type name when it has none), on one line."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(text.split()) or type(error).__name__


@contextmanager
def quiet_warnings() -> Iterator[None]:
    """Keep library warnings (deprecations, skipped images) off the terminal; imret reports them itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
