"""The JSON API under /api/v1: search by upload, by gallery id, in batches; index information."""
from __future__ import annotations

import asyncio
from typing import Any, Optional
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from . import adapter
from .errors import ApiError
from .files import check_item_id
from .schemas import BatchOut, ErrorOut, InfoOut, LimitsOut, MatchOut, QueryOut, SearchOut
from .service import SearchService
from .uploads import Upload, files_of, int_field, read_form

router = APIRouter(prefix="/api/v1", tags=["search"])
ERRORS = {status: {"model": ErrorOut} for status in (400, 404, 408, 413, 415, 503)}


def _upload_body(field: str, many: bool) -> dict:
    file_schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [field],
        "properties": {
            field: {"type": "array", "items": file_schema} if many else file_schema,
            "topk": {"type": "integer", "minimum": 1, "description": "matches per query"},
            **({} if many else {"offset": {"type": "integer", "minimum": 0, "description": "skip this many"}}),
        }}}}}}


def service_of(request: Request) -> SearchService:
    return request.app.state.service


def _urls(snapshot: adapter.GallerySnapshot, item_id: str, path: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    if snapshot.root is None or path is None:
        return None, None
    quoted = quote(item_id, safe="/")
    return f"/gallery/{quoted}", f"/thumb/{quoted}"


def _match(snapshot: adapter.GallerySnapshot, hit: adapter.Hit, rank: int) -> MatchOut:
    image_url, thumb_url = _urls(snapshot, hit.id, hit.path)
    return MatchOut(rank=rank, id=hit.id, path=hit.path, label=hit.label, score=round(hit.score, 6),
                    image_url=image_url, thumb_url=thumb_url)


def _result(snapshot: adapter.GallerySnapshot, query: QueryOut, hits: list[adapter.Hit], topk: int,
            offset: int) -> SearchOut:
    page = hits[offset:offset + topk]
    return SearchOut(query=query, index_version=snapshot.version, count=snapshot.count, topk=topk, offset=offset,
                     has_more=offset + topk < snapshot.count,
                     matches=[_match(snapshot, hit, offset + number) for number, hit in enumerate(page, start=1)])


async def _prepare(service: SearchService, upload: Upload) -> Any:
    """The upload decoded and transformed for the model, on a worker thread (off the event loop)."""
    try:
        return await run_in_threadpool(service.encoder.prepare, upload.data, upload.name)
    except adapter.ImageTooLargeError as error:
        raise ApiError(413, "image_too_large", str(error)) from None
    except adapter.QueryImageError as error:
        raise ApiError(400, "not_an_image", str(error)) from None


@router.post("/search", response_model=SearchOut, responses=ERRORS, openapi_extra=_upload_body("image", False),
             summary="Search by an uploaded image")
async def search_upload(request: Request) -> SearchOut:
    """Upload one image (multipart field `image`); get its `topk` nearest gallery items after `offset`."""
    service = service_of(request)
    pool, snapshot = service.ready()
    config = service.config
    form = await read_form(request, max_files=1)
    try:
        topk = int_field(form, "topk", config.default_topk, 1, config.max_topk)
        offset = int_field(form, "offset", 0, 0, config.max_offset)
        upload = (await files_of(form, "image", 1))[0]
    finally:
        await form.close()
    image = await _prepare(service, upload)
    vectors = await service.encode(pool, [image])
    hits = await run_in_threadpool(snapshot.search, vectors, offset + topk)
    return _result(snapshot, QueryOut(kind="upload", name=upload.name), hits[0], topk, offset)


@router.post("/search/batch", response_model=BatchOut, responses=ERRORS, openapi_extra=_upload_body("images", True),
             summary="Search by several uploaded images at once")
async def search_batch(request: Request) -> BatchOut:
    """Upload up to the server's `max_batch_files` images (repeated field `images`); results in upload order."""
    service = service_of(request)
    pool, snapshot = service.ready()
    config = service.config
    form = await read_form(request, max_files=config.batch_files)
    try:
        topk = int_field(form, "topk", config.default_topk, 1, config.max_topk)
        uploads = await files_of(form, "images", config.batch_files)
    finally:
        await form.close()
    prepared = await asyncio.gather(*(_prepare(service, upload) for upload in uploads), return_exceptions=True)
    for item in prepared:  # the first bad file in upload order is the one reported
        if isinstance(item, BaseException):
            raise item
    images = list(prepared)
    vectors = await service.encode(pool, images)
    hits = await run_in_threadpool(snapshot.search, vectors, topk)
    results = [_result(snapshot, QueryOut(kind="upload", name=upload.name), found, topk, 0)
               for upload, found in zip(uploads, hits)]
    return BatchOut(index_version=snapshot.version, count=snapshot.count, topk=topk, results=results)


@router.get("/search/by-id", response_model=SearchOut, responses=ERRORS, summary="Search by a gallery item")
async def search_by_id(request: Request, id: str = Query(..., description="gallery id, e.g. cats/tom.jpg"),
                       topk: Optional[int] = Query(None, description="matches to return"),
                       offset: int = Query(0, description="skip this many")) -> SearchOut:
    """Neighbours of a gallery item, from its stored vector (no re-encoding). The item itself is rank 1."""
    service = service_of(request)
    _, snapshot = service.ready()
    config = service.config
    item_id = check_item_id(id)
    topk = int_field(None, "topk", config.default_topk, 1, config.max_topk,
                     None if topk is None else str(topk))
    offset = int_field(None, "offset", 0, 0, config.max_offset, str(offset))
    try:
        vector = await run_in_threadpool(snapshot.vector_of, item_id)
        item = await run_in_threadpool(snapshot.describe, item_id)
    except adapter.UnknownItemError:
        raise ApiError(404, "unknown_id", f"no gallery item with id {item_id!r} in the index") from None
    hits = await run_in_threadpool(snapshot.search, vector, offset + topk)
    image_url, thumb_url = _urls(snapshot, item_id, item.path)
    query = QueryOut(kind="id", name=item_id, id=item_id, path=item.path, image_url=image_url, thumb_url=thumb_url)
    return _result(snapshot, query, hits[0], topk, offset)


@router.get("/info", response_model=InfoOut, responses={503: {"model": ErrorOut}}, summary="The index served")
async def info(request: Request) -> InfoOut:
    """Size, dimension, metric, model and version of the index being served, and the server's limits."""
    service = service_of(request)
    service.ready()
    snapshot, config = service.holder.snapshot, service.config
    return InfoOut(name=service.index_name, version=snapshot.version, count=snapshot.count, dim=snapshot.dim,
                   metric=snapshot.metric, index_type=snapshot.index_type,
                   model=service.encoder.name if service.encoder else "", updated=snapshot.updated,
                   reloads=service.holder.reloads, reload_error=service.holder.reload_error,
                   gallery_files=snapshot.root is not None, forward_passes=service.pool.batches,
                   images_encoded=service.pool.encoded,
                   limits=LimitsOut(max_upload_mb=config.max_upload_mb, max_pixels=config.max_pixels,
                                    max_batch_files=config.batch_files, default_topk=config.default_topk,
                                    max_topk=config.max_topk, max_offset=config.max_offset))
