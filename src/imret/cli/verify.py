"""``imret verify INDEX``: read an index back completely and report every problem, one line each."""
from __future__ import annotations

import argparse
import sys

from .bad_input import EXIT_BAD_INPUT, EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``verify`` subcommand."""
    parser = subparsers.add_parser(
        "verify", help="check an index completely (checksums, ids, vectors, metadata)",
        description="Read every file of INDEX back: SHA-256 checksums recorded in its manifest, ids, vectors "
                    "(finite; unit length in cosine indexes), metadata rows and the FAISS index. Prints one "
                    "line per problem naming the file and exits 1 if there is any; exits 0 when the index "
                    "is sound. Changes nothing.")
    parser.add_argument("index", metavar="INDEX", help="index made by `imret index`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """0 when the index is sound, 1 with one line per problem."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from imret.index import open_index, scheme_of
    from imret.index.names import display_name

    if scheme_of(args.index) == "local":
        from imret.index.verify import verify_index

        report = verify_index(args.index)
        problems, notes = report.problems, report.notes
    else:
        try:
            with open_index(args.index) as index:
                problems, notes = index.verify(), []
        except (FileNotFoundError, ValueError) as error:
            return fail("verify", first_line(error))
    for note in notes:
        print(f"imret verify: note: {display_name(note)}", file=sys.stderr)
    for problem in problems:
        print(f"imret verify: {display_name(' '.join(problem.split()))}", file=sys.stderr)
    if problems:
        return EXIT_BAD_INPUT
    print(f"{display_name(args.index)}: ok")
    return EXIT_OK
