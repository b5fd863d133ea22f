"""uvicorn's HTTP/1.1 protocol (h11) with JSON errors for malformed requests and a header deadline."""
from __future__ import annotations

import json
from typing import Optional

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import error_body


class _RecordingConnection(h11.Connection):
    """An h11 connection that remembers why the client's bytes were refused."""

    last_error: Optional[h11.RemoteProtocolError] = None

    def next_event(self):  # noqa: ANN201 (h11's own return type)
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = error
            raise


class ImretH11Protocol(H11Protocol):
    """Malformed requests get a JSON 4xx naming the problem; a client that does not finish its request
    line and headers within ``header_timeout`` seconds gets 408 and is disconnected; connections beyond
    ``max_connections`` get 503 and are closed."""

    header_timeout: float = 10.0
    max_connections: int = 512

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _RecordingConnection(h11.SERVER, self.conn._max_incomplete_event_size)
        self._header_timer = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._write_error(503, "too_many_connections", f"the server has {self.max_connections} open "
                              "connections already; retry shortly")
            self.transport.close()
            return
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _waiting_for_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():
            self._arm_header_timer()
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._waiting_for_headers() and self.conn.trailing_data[0]:
            self._arm_header_timer()  # part of a pipelined request is buffered

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._waiting_for_headers():
            return
        if self.conn.our_state is h11.IDLE:
            self._write_error(408, "header_timeout",
                              f"the request line and headers did not arrive within {self.header_timeout:g} s")
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        error = getattr(self.conn, "last_error", None)
        status = getattr(error, "error_status_hint", 400) if error is not None else 400
        detail = str(error).split(":")[0].strip() if error is not None and str(error) else ""
        detail = detail or "unparseable request"
        self._write_error(status if 400 <= status < 500 else 400, "malformed_request",
                          f"malformed HTTP request: {detail}")
        self.transport.close()

    def _write_error(self, status: int, code: str, message: str) -> None:
        body = json.dumps(error_body(code, message)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        try:
            data = (self.conn.send(h11.Response(status_code=status, headers=headers, reason=_reason(status)))
                    + self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:  # h11 refuses to answer in its state: write the bytes ourselves
            data = (f"HTTP/1.1 {status} {_reason(status)}\r\n".encode()
                    + b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body)
        self.transport.write(data)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def protocol_class(header_timeout: float, max_connections: int) -> type[ImretH11Protocol]:
    """The protocol class to give uvicorn (``Config(http=...)``), with these limits."""
    return type("ImretH11Protocol", (ImretH11Protocol,), {"header_timeout": float(header_timeout),
                                                          "max_connections": int(max_connections)})
