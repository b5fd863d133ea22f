"""A small HTTP server for searching one gallery index: an upload page and a JSON endpoint.

Endpoints:
    GET  /                  page with an upload form
    POST /search            form upload (multipart, field ``image``) -> page with the matches
    POST /api/search?topk=K body = image bytes (or a multipart form) -> JSON ``{'matches': [...]}``
    GET  /api/info          index size and model
    GET  /gallery/<id>      a gallery image (only ids present in the results of this server)
"""
from __future__ import annotations

import html
import json
import mimetypes
import os
import tempfile
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qs, quote, unquote, urlparse

from .searcher import IndexSearcher, Match, SearchInputError

MAX_UPLOAD_BYTES = 32 * 2**20
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>imret search</title>
<style>body{{font-family:sans-serif;margin:2em}} .m{{display:inline-block;margin:6px;text-align:center;
font-size:12px;vertical-align:top}} .m img{{max-width:200px;max-height:200px;display:block}}</style></head>
<body><h1>imret image search</h1>
<p>Index <code>{index}</code>: {count} images, model <code>{model}</code>.</p>
<form action="/search" method="post" enctype="multipart/form-data">
<input type="file" name="image" accept="image/*" required>
top <input type="number" name="topk" value="{topk}" min="1" max="100" style="width:4em">
<button type="submit">Search</button></form>
{body}
</body></html>"""


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Fields of a ``multipart/form-data`` body: name -> raw bytes."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    fields = {}
    if message.is_multipart():
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[name] = part.get_payload(decode=True) or b""
    return fields


class SearchHandler(BaseHTTPRequestHandler):
    """Request handler; the server object carries ``searcher``, ``topk`` and a lock."""

    server_version = "imret"

    # ----- helpers -----
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _page(self, status: int, body: str, topk: Optional[int] = None) -> None:
        searcher: IndexSearcher = self.server.searcher  # type: ignore[attr-defined]
        text = PAGE.format(index=html.escape(str(searcher.index_path)), count=len(searcher),
                           model=html.escape(searcher.model.name), topk=topk or self.server.topk,  # type: ignore
                           body=body)
        self._send(status, text.encode(), "text/html; charset=utf-8")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            raise SearchInputError("the request has no image (empty body)")
        if length > MAX_UPLOAD_BYTES:
            raise SearchInputError(f"the upload is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        return self.rfile.read(length)

    def _query_image(self) -> tuple[bytes, dict[str, bytes]]:
        body = self._read_body()
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            fields = parse_multipart(content_type, body)
            if not fields.get("image"):
                raise SearchInputError("the form has no 'image' file")
            return fields["image"], fields
        return body, {}

    def _search(self, image: bytes, topk: int) -> list[Match]:
        searcher: IndexSearcher = self.server.searcher  # type: ignore[attr-defined]
        handle, temp = tempfile.mkstemp(prefix="imret-query-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(image)
            with self.server.lock:  # type: ignore[attr-defined]
                matches = searcher.search([temp], topk=topk)[0]
        finally:
            Path(temp).unlink(missing_ok=True)
        self.server.served.update({m.id: m.path for m in matches})  # type: ignore[attr-defined]
        return matches

    def _topk(self, fields: dict[str, bytes]) -> int:
        query = parse_qs(urlparse(self.path).query)
        text = fields.get("topk", b"").decode() or (query.get("topk") or [""])[0]
        try:
            value = int(text) if text else self.server.topk  # type: ignore[attr-defined]
        except ValueError:
            raise SearchInputError(f"topk must be an integer, got {text!r}") from None
        if not 1 <= value <= 1000:
            raise SearchInputError(f"topk must be between 1 and 1000, got {value}")
        return value

    # ----- routes -----
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        route = urlparse(self.path).path
        if route == "/":
            self._page(HTTPStatus.OK, "")
        elif route == "/api/info":
            searcher = self.server.searcher  # type: ignore[attr-defined]
            self._json(HTTPStatus.OK, {"index": str(searcher.index_path), "count": len(searcher),
                                       "model": searcher.model.name})
        elif route.startswith("/gallery/"):
            item = unquote(route[len("/gallery/"):])
            path = self.server.served.get(item)  # type: ignore[attr-defined]
            if path is None or not os.path.isfile(path):
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no gallery image {item!r}"})
                return
            self._send(HTTPStatus.OK, Path(path).read_bytes(),
                       mimetypes.guess_type(path)[0] or "application/octet-stream")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {route}"})

    def do_POST(self) -> None:  # noqa: N802
        route = urlparse(self.path).path
        if route not in ("/search", "/api/search"):
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {route}"})
            return
        try:
            image, fields = self._query_image()
            topk = self._topk(fields)
            matches = self._search(image, topk)
        except SearchInputError as error:
            if route == "/api/search":
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            else:
                self._page(HTTPStatus.BAD_REQUEST, f"<p><b>Error:</b> {html.escape(str(error))}</p>")
            return
        if route == "/api/search":
            self._json(HTTPStatus.OK, {"matches": [m.to_json() for m in matches]})
            return
        cells = "".join(
            f'<div class="m"><img src="/gallery/{quote(m.id)}" alt=""><br>#{m.rank} {m.score:.3f}<br>'
            f"{html.escape(Path(m.path).name)}</div>" for m in matches)
        self._page(HTTPStatus.OK, f"<h2>Matches</h2>{cells}", topk)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


def make_server(searcher: IndexSearcher, host: str = "127.0.0.1", port: int = 8000, topk: int = 5,
                verbose: bool = True) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) for ``searcher``; ``port=0`` picks a free port."""
    server = ThreadingHTTPServer((host, port), SearchHandler)
    server.searcher = searcher  # type: ignore[attr-defined]
    server.topk = topk  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.served = {}  # type: ignore[attr-defined]
    server.verbose = verbose  # type: ignore[attr-defined]
    return server
