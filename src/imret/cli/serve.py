"""``imret serve INDEX``: the search service (JSON API, web app) for an index, on uvicorn."""
from __future__ import annotations

import argparse
import sys

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve", help="serve a search web app and JSON API for an index",
        description="Serve INDEX over HTTP: a web page at / to search by image, a JSON API under /api/v1 "
                    "(OpenAPI docs at /docs), /health and /ready. Re-running `imret index` on the same INDEX "
                    "is picked up without a restart.")
    parser.add_argument("index", metavar="INDEX", help="index directory made by `imret index`")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    parser.add_argument("--workers", type=int, default=None,
                        help="inference threads sharing the model, each running whole micro-batches; while one "
                             "runs, another can start on its share of the cores (default 2 on 2+ cores, else 1)")
    parser.add_argument("--max-batch", type=int, default=8, help="query images per forward pass (default 8)")
    parser.add_argument("--batch-window-ms", type=float, default=2.0,
                        help="how long a forward pass waits for more queries to batch (default 2 ms)")
    parser.add_argument("--queue-size", type=int, default=64,
                        help="query images waiting for the model before requests get 503 (default 64)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body (default 20 MB)")
    parser.add_argument("--topk", type=int, default=10, help="default number of matches (default 10)")
    parser.add_argument("--max-topk", type=int, default=100, help="largest topk a request may ask for (default 100)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser pages from ORIGIN (e.g. https://example.org) to call the API; "
                             "repeat for several; off by default")
    parser.add_argument("--header-timeout", type=float, default=10.0,
                        help="seconds a client has to send its request headers (default 10)")
    parser.add_argument("--body-timeout", type=float, default=30.0,
                        help="seconds a client has to send a request body (default 30)")
    parser.add_argument("--max-connections", type=int, default=512,
                        help="open connections allowed; further ones get 503 (default 512)")
    parser.add_argument("--reload-interval", type=float, default=1.0,
                        help="seconds between checks for a re-indexed INDEX (default 1)")
    parser.add_argument("--runtime", default=None, help="encoder runtime: auto, torch, onnxruntime or openvino (default auto)")
    parser.add_argument("--device", default=None, help="device for the encoder, e.g. cpu or cuda:0")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                        help="server log detail (default info; debug also logs every request)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; 1 when the options or the index cannot be used."""
    with quiet_warnings():
        from imret.server.adapter import IndexLoadError, check_index
        from imret.server.config import ServerConfig, default_workers
        from imret.server.run import bind, serve

        try:
            config = ServerConfig(
                index_path=args.index, host=args.host, port=args.port,
                workers=default_workers() if args.workers is None else args.workers,
                max_batch=args.max_batch, batch_window_ms=args.batch_window_ms, queue_size=args.queue_size,
                max_upload_mb=args.max_upload_mb, default_topk=args.topk, max_topk=args.max_topk,
                cors_origins=tuple(args.cors_origin), header_timeout=args.header_timeout,
                body_timeout=args.body_timeout, max_connections=args.max_connections,
                reload_interval=args.reload_interval, runtime=args.runtime,
                device=args.device)
        except ValueError as error:
            return fail("serve", first_line(error))
        try:
            count = check_index(args.index)
        except IndexLoadError as error:
            return fail("serve", first_line(error))
        try:
            sock = bind(args.host, args.port)
        except OSError as error:
            return fail("serve", f"cannot listen on {args.host}:{args.port} ({error.strerror or error})")
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"imret serve: {count} images in {args.index}; open http://{shown}:{port}/ "
              "(API docs at /docs; Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            serve(config, sock, log_level=args.log_level)
        except KeyboardInterrupt:
            pass
        finally:
            sock.close()
    return EXIT_OK
