"""``imret models``: the zoo models, their dimension and whether their weights are available offline."""
from __future__ import annotations

import argparse

from .bad_input import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser(
        "models", help="list the zoo models",
        description="List the zoo models usable with --model: name, what it is, vector dimension, where its "
                    "weights come from and whether they are available offline (without downloading).")
    parser.add_argument("--json", action="store_true",
                        help="print a JSON list of {name, what, dim, weights, offline, default}")
    parser.set_defaults(func=run)


def print_models(as_json: bool) -> int:
    """Print the zoo table (or JSON) on stdout; shared with ``imret index --list-models``."""
    from imret.apis.model_table import describe_models, format_model_table

    from .output import print_json

    rows = describe_models()
    if as_json:
        print_json(rows, indent=1)
    else:
        print(format_model_table(rows))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return print_models(args.json)
