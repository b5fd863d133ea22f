"""``imret serve INDEX``: a local web page and JSON endpoint for searching an index."""
from __future__ import annotations

import argparse
import sys

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve", help="serve a search page for an index",
        description="Serve an HTML page with an upload form (GET /) and a JSON endpoint "
                    "(POST /api/search?topk=K with the image bytes as the body) for searching INDEX.")
    parser.add_argument("index", metavar="INDEX", help="index directory made by `imret index`")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--topk", type=int, default=5, help="default number of matches (default 5)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 1 when the index cannot be used."""
    with quiet_warnings():
        from imret.apis.searcher import IndexSearcher, SearchInputError
        from imret.apis.server import make_server

        try:
            searcher = IndexSearcher(args.index)
        except (SearchInputError, KeyError, FileNotFoundError) as error:
            return fail("serve", first_line(error))
        try:
            server = make_server(searcher, args.host, args.port, topk=args.topk)
        except OSError as error:
            return fail("serve", f"cannot listen on {args.host}:{args.port} ({error.strerror or error})")
        host, port = server.server_address[:2]
        print(f"imret serve: {len(searcher)} images of {args.index}; open http://{host}:{port}/ "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return EXIT_OK
