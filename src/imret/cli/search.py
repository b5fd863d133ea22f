"""``imret search INDEX QUERY...``: the closest gallery images of each query image."""
from __future__ import annotations

import argparse
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
    parser.add_argument("index", metavar="INDEX", help="index made by `imret index` (directory or milvus URI)")
    parser.add_argument("queries", metavar="QUERY", nargs="+", help="query image files or folders")
    parser.add_argument("--topk", "-k", type=int, default=5, help="matches per query (default 5)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: a list of {query, query_abs, matches: [{rank, path, score, id}]} "
                             "(id: relative to the gallery folder; path, query_abs: absolute)")
    parser.add_argument("--show-dir", metavar="DIR", help="write one PNG match grid per query into DIR")
    parser.add_argument("--model", "-m", default=None,
                        help="model to encode the queries (default: the one recorded in the index; "
                             "another model is refused)")
    parser.add_argument("--batch-size", type=int, default=16, help="queries per forward pass (default 16)")
    parser.add_argument("--timings", action="store_true",
                        help="print the wall time of each stage (start-up, imports, model load, encode, search) "
                             "on stderr")
    parser.add_argument("--shard", action="append", default=[], metavar="INDEX",
                        help="another index searched together with INDEX, as one (repeatable; same model; "
                             "exact merge of the per-index top-k)")
    parser.add_argument("--rerank", action="append", metavar="NAME:k=v,...", default=None,
                        help="re-rank each query's shortlist; repeat to chain. qe:k=2 (average query expansion), "
                             "alpha-qe:k=3,alpha=3, k-reciprocal:k1=10,k2=3,lambda=0.1 (docs/quality.md)")
    parser.add_argument("--shortlist", type=int, default=100,
                        help="results per query handed to --rerank (default 100, at least --topk)")
    add_runtime_arguments(parser)
    parser.set_defaults(func=run)


def expand_queries(queries: list[str]) -> list[str]:
    """Query paths with folders replaced by their images; a missing path raises ``FileNotFoundError``.

    A FIFO, socket or device given as a query raises ``imret.io.NotRegularFileError`` (never opened);
    one inside a query folder is skipped with a message on stderr.
    """
    import os
    import stat

    from imret.apis import list_image_files
    from imret.io import NotRegularFileError, display_name
    from imret.io.regular import not_regular_reason

    def skipped(path: str, reason: str) -> None:
        print(f"imret search: skipped {display_name(path)}: {reason}", file=sys.stderr)

    expanded = []
    for query in queries:
        try:
            mode = os.stat(query).st_mode
        except OSError:
            raise FileNotFoundError(f"query {display_name(query)} does not exist") from None
        if stat.S_ISDIR(mode):
            found = list_image_files(query, on_skip=skipped)
            if not found:
                raise FileNotFoundError(f"query folder {display_name(query)} contains no images")
            expanded.extend(found)
        elif stat.S_ISREG(mode):
            expanded.append(query)
        else:
            raise NotRegularFileError(query, not_regular_reason(mode))
    return expanded


def _with_shards(first, shard_uris: list[str]):
    """``first`` and the indexes at ``shard_uris`` searched as one (see imret.index.sharded)."""
    from imret.index import open_index
    from imret.index.redact import redact_credentials
    from imret.index.sharded import ShardedIndex

    shards = [first]
    for uri in shard_uris:
        try:
            shards.append(open_index(uri))
        except FileNotFoundError:
            raise FileNotFoundError(f"--shard {redact_credentials(uri)}: no index there") from None
    return ShardedIndex(shards)


def run(args: argparse.Namespace) -> int:
    """Search; 0 on success, 1 on bad input (missing index or query, unreadable query, other model)."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from .output import StageTimer, log, print_json, status

    if args.topk < 1:
        return fail("search", f"--topk must be >= 1, got {args.topk}")
    if args.batch_size < 1:
        return fail("search", f"--batch-size must be >= 1, got {args.batch_size}")
    if args.shortlist < 1:
        return fail("search", f"--shortlist must be >= 1, got {args.shortlist}")
    timer = StageTimer()
    with timer.stage("imports"):
        from imret.apis.searcher import IndexSearcher, SearchInputError, matches_to_json
        from imret.io import ImageDecodeError
    try:
        queries = expand_queries(args.queries)
        status("opening index %s and loading its model ...", args.index)
        with timer.stage("model load"):
            searcher = IndexSearcher(args.index, model=args.model, runtime=args.runtime, device=args.device,
                                     checkpoint=args.checkpoint)
            if args.shard:
                if args.rerank:
                    raise SearchInputError("--rerank works on one index; search the shards without it")
                searcher.index = _with_shards(searcher.index, args.shard)
        with timer.stage("encode"):
            vectors = searcher.encode_queries(queries, batch_size=args.batch_size)
        with timer.stage("search"):
            results = searcher.search_vectors(vectors, topk=args.topk, rerank=args.rerank, shortlist=args.shortlist)
    except (SearchInputError, ImageDecodeError, OSError, KeyError, ValueError) as error:
        return fail("search", first_line(error))
    if args.timings:
        print(f"imret search: timings: {timer.summary()} (runtime {searcher.model.runtime_name})",
              file=sys.stderr)

    from imret.index.names import display_name

    if args.json:
        print_json(matches_to_json(queries, results), indent=1)
    else:
        for query, matches in zip(queries, results):
            print(display_name(query))
            for match in matches:
                print(f"  {match.rank:>3}. {match.score:.4f}  {display_name(match.path)}")
    if args.show_dir:
        from imret.apis.match_grid import grid_file_name, write_match_grid

        for position, (query, matches) in enumerate(zip(queries, results)):
            write_match_grid(Path(args.show_dir) / grid_file_name(query, position), query,
                             [(m.path, m.score, m.id) for m in matches])
        log.info("wrote %d match grid(s) to %s", len(queries), args.show_dir)
    return EXIT_OK
