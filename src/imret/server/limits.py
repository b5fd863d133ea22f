"""Request body limits enforced while the body streams in: size (413) and a read deadline (408)."""
from __future__ import annotations

import asyncio
import json

from .errors import ApiError, error_body

BODY_TAIL = "imret.body_tail"  # the request body's last bytes, for telling a cut-short multipart body
TAIL_BYTES = 256


async def _send_error(send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimits:
    """ASGI middleware: refuse a body larger than ``max_bytes`` as soon as that is known, and one that
    takes longer than ``timeout`` seconds to arrive."""

    def __init__(self, app, max_bytes: int, timeout: float) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    def _too_large(self) -> ApiError:
        return ApiError(413, "upload_too_large",
                        f"the request body is larger than the server's limit of {self.max_bytes / 2**20:g} MB; "
                        "send a smaller image")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared:
            text = declared[0].decode("latin-1").strip()
            if not text.isdigit():
                await _send_error(send, 400, "bad_content_length", f"Content-Length {text!r} is not a number")
                return
            if int(text) > self.max_bytes:
                error = self._too_large()
                await _send_error(send, error.status, error.code, error.message)
                return
        loop = asyncio.get_running_loop()
        state = {"received": 0, "deadline": None, "done": False}
        shared = scope.setdefault("state", {})
        shared[BODY_TAIL] = b""

        async def limited_receive():
            if state["done"]:
                return await receive()
            if state["deadline"] is None:
                state["deadline"] = loop.time() + self.timeout
            remaining = state["deadline"] - loop.time()
            try:
                if remaining <= 0:
                    raise asyncio.TimeoutError
                message = await asyncio.wait_for(receive(), remaining)
            except asyncio.TimeoutError:
                raise ApiError(408, "body_timeout", f"the request body did not arrive within {self.timeout:g} s "
                               "(slow or stalled upload, or a Content-Length larger than the body sent)") from None
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                state["received"] += len(chunk)
                shared[BODY_TAIL] = (shared[BODY_TAIL] + chunk)[-TAIL_BYTES:]
                if state["received"] > self.max_bytes:
                    raise self._too_large()
                state["done"] = not message.get("more_body", False)
            else:
                state["done"] = True
            return message

        await self.app(scope, limited_receive, send)
