"""``imret search INDEX QUERY...``: the closest gallery images of each query image."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings
from .runtime_options import add_runtime_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``search`` subcommand."""
    parser = subparsers.add_parser(
        "search", help="find the closest indexed images of query images",
        description="Encode each QUERY image with the model the index was built with and print its closest "
                    "gallery images, best first. A QUERY folder stands for the images in it.")
    parser.add_argument("index", metavar="INDEX", help="index directory made by `imret index`")
    parser.add_argument("queries", metavar="QUERY", nargs="+", help="query image files or folders")
    parser.add_argument("--topk", "-k", type=int, default=5, help="matches per query (default 5)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: a list of {query, matches: [{rank, path, score, id}]}")
    parser.add_argument("--show-dir", metavar="DIR", help="write one PNG match grid per query into DIR")
    parser.add_argument("--model", "-m", default=None,
                        help="model to encode the queries (default: the one recorded in the index; "
                             "another model is refused)")
    parser.add_argument("--batch-size", type=int, default=16, help="queries per forward pass (default 16)")
    parser.add_argument("--rerank", action="append", metavar="NAME:k=v,...", default=None,
                        help="re-rank each query's shortlist; repeat to chain. qe:k=2 (average query expansion), "
                             "alpha-qe:k=3,alpha=3, k-reciprocal:k1=10,k2=3,lambda=0.1 (docs/quality.md)")
    parser.add_argument("--shortlist", type=int, default=100,
                        help="results per query handed to --rerank (default 100, at least --topk)")
    add_runtime_arguments(parser)
    parser.set_defaults(func=run)


def expand_queries(queries: list[str]) -> list[str]:
    """Query paths with folders replaced by their images; a missing path raises ``FileNotFoundError``."""
    from imret.apis import list_image_files

    expanded = []
    for query in queries:
        path = Path(query)
        if path.is_dir():
            found = list_image_files(path)
            if not found:
                raise FileNotFoundError(f"query folder {query} contains no images")
            expanded.extend(found)
        elif path.is_file():
            expanded.append(query)
        else:
            raise FileNotFoundError(f"query {query} does not exist")
    return expanded


def run(args: argparse.Namespace) -> int:
    """Search; 0 on success, 1 on bad input (missing index or query, unreadable query, other model)."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from imret.apis.match_grid import grid_file_name, write_match_grid
    from imret.apis.searcher import IndexSearcher, SearchInputError, matches_to_json

    if args.topk < 1:
        return fail("search", f"--topk must be >= 1, got {args.topk}")
    if args.batch_size < 1:
        return fail("search", f"--batch-size must be >= 1, got {args.batch_size}")
    if args.shortlist < 1:
        return fail("search", f"--shortlist must be >= 1, got {args.shortlist}")
    try:
        queries = expand_queries(args.queries)
        searcher = IndexSearcher(args.index, model=args.model, runtime=args.runtime, device=args.device,
                                 checkpoint=args.checkpoint)
        results = searcher.search(queries, topk=args.topk, batch_size=args.batch_size, rerank=args.rerank,
                                  shortlist=args.shortlist)
    except (SearchInputError, FileNotFoundError, KeyError) as error:
        return fail("search", first_line(error))

    if args.json:
        print(json.dumps(matches_to_json(queries, results), indent=1))
    else:
        for query, matches in zip(queries, results):
            print(query)
            for match in matches:
                print(f"  {match.rank:>3}. {match.score:.4f}  {match.path}")
    if args.show_dir:
        for position, (query, matches) in enumerate(zip(queries, results)):
            write_match_grid(Path(args.show_dir) / grid_file_name(query, position), query,
                             [(m.path, m.score, m.id) for m in matches])
        print(f"wrote {len(queries)} match grid(s) to {args.show_dir}", file=sys.stderr)
    return EXIT_OK
