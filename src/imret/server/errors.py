"""JSON error bodies: one shape for every failure, never a traceback, path or temp-file name."""
from __future__ import annotations

import logging
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("imret.server")

# Statuses after which the rest of the request body is not worth reading.
CLOSE_AFTER = frozenset({408, 413})


class ApiError(Exception):
    """A request the server refuses; ``message`` says what is wrong and what to do."""

    def __init__(self, status: int, code: str, message: str, retry_after: Optional[int] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def error_body(code: str, message: str) -> dict:
    return {"error": message, "code": code}


def error_response(status: int, code: str, message: str, retry_after: Optional[int] = None) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status in CLOSE_AFTER:
        headers["Connection"] = "close"
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _describe_validation(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = " ".join(str(part) for part in item.get("loc", ()) if part not in ("body",))
        parts.append(f"{where}: {item.get('msg', 'invalid')}".strip(": "))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the app as ``{"error": message, "code": code}``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.retry_after)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"no such page {request.url.path!r}"
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path!r}"
        else:
            message = str(error.detail)
        response = error_response(error.status_code, f"http_{error.status_code}", message)
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, "bad_parameter", _describe_validation(error))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error; the server's log has the details")
