"""Liveness and readiness, gallery images, thumbnails and the web app's files."""
from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from . import adapter
from .errors import ApiError
from .files import GalleryFile, resolve_gallery_file
from .schemas import ErrorOut, HealthOut, ReadyOut

STATIC_DIR = Path(__file__).with_name("static")
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
FILE_ERRORS = {status: {"model": ErrorOut} for status in (400, 403, 404, 503)}
router = APIRouter()


@router.get("/health", response_model=HealthOut, tags=["service"], summary="Liveness")
async def health() -> HealthOut:
    """200 while the process serves requests."""
    return HealthOut(status="ok")


@router.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}}, tags=["service"],
            summary="Readiness")
async def ready(request: Request) -> JSONResponse:
    """200 once the model is loaded and the index open; 503 (with the reason) before that."""
    service = request.app.state.service
    reason = service.not_ready_reason
    if reason is not None:
        return JSONResponse(ReadyOut(ready=False, reason=reason).model_dump(), status_code=503,
                            headers={"Cache-Control": "no-store"})
    snapshot = service.holder.snapshot
    return JSONResponse(ReadyOut(ready=True, count=snapshot.count, model=service.encoder.name).model_dump(),
                        headers={"Cache-Control": "no-store"})


def _not_modified(request: Request, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")]
    return f'"{etag}"' in tags or "*" in tags


def _cache_headers(file: GalleryFile, kind: str) -> dict:
    return {"ETag": f'"{kind}-{file.etag}"', "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff"}


@router.get("/gallery/{item_id:path}", responses=FILE_ERRORS, tags=["files"], summary="A gallery image",
            response_class=FileResponse)
async def gallery_file(request: Request, item_id: str) -> Response:
    """The original image of a gallery item (only files inside the gallery folder recorded at indexing)."""
    _, snapshot = request.app.state.service.ready()
    file = await run_in_threadpool(resolve_gallery_file, snapshot, item_id)
    headers = _cache_headers(file, "g")
    if _not_modified(request, f"g-{file.etag}"):
        return Response(status_code=304, headers=headers)
    media_type = mimetypes.guess_type(file.real_path)[0] or "application/octet-stream"
    return FileResponse(file.real_path, media_type=media_type, headers=headers, stat_result=None)


@router.get("/thumb/{item_id:path}", responses=FILE_ERRORS, tags=["files"], summary="A gallery thumbnail",
            response_class=Response)
async def thumbnail(request: Request, item_id: str) -> Response:
    """A JPEG of at most the server's thumbnail size on its long side, cached in memory."""
    service = request.app.state.service
    _, snapshot = service.ready()
    file = await run_in_threadpool(resolve_gallery_file, snapshot, item_id)
    headers = _cache_headers(file, f"t{service.thumbs.size_px}")
    if _not_modified(request, f"t{service.thumbs.size_px}-{file.etag}"):
        return Response(status_code=304, headers=headers)
    try:
        data = await run_in_threadpool(service.thumbs.get, file, item_id)
    except (adapter.QueryImageError, OSError):
        raise ApiError(404, "unreadable_image", f"gallery item {item_id!r} can no longer be read as an image")
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)
