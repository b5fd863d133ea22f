"""Response bodies of the JSON API (they also make the OpenAPI document at /docs)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    error: str = Field(description="what is wrong and what to do")
    code: str = Field(description="stable machine-readable kind, e.g. upload_too_large")


class MatchOut(BaseModel):
    rank: int = Field(description="1 = best")
    id: str = Field(description="gallery id (path relative to the gallery folder)")
    path: Optional[str] = Field(description="path relative to the gallery folder; null when the index has none")
    label: Optional[str] = Field(description="the sub-folder the image is in, if any")
    score: float = Field(description="similarity; larger is more similar (cosine: 1 = identical)")
    image_url: Optional[str] = Field(description="the full image, when the gallery folder is available")
    thumb_url: Optional[str] = Field(description="a small JPEG of the image")


class QueryOut(BaseModel):
    kind: Literal["upload", "id"]
    name: str = Field(description="the uploaded file's name, or the gallery id")
    id: Optional[str] = None
    path: Optional[str] = None
    image_url: Optional[str] = None
    thumb_url: Optional[str] = None


class SearchOut(BaseModel):
    query: QueryOut
    index_version: str
    count: int = Field(description="items in the index version searched")
    topk: int
    offset: int
    has_more: bool = Field(description="whether offset + topk is below count (a next page exists)")
    matches: list[MatchOut]


class BatchOut(BaseModel):
    index_version: str
    count: int
    topk: int
    results: list[SearchOut]


class LimitsOut(BaseModel):
    max_upload_mb: float
    max_pixels: int
    max_batch_files: int
    default_topk: int
    max_topk: int
    max_offset: int


class InfoOut(BaseModel):
    name: str = Field(description="the index folder's name")
    version: str
    count: int
    dim: int
    metric: str
    index_type: Optional[str]
    model: str
    updated: Optional[str]
    reloads: int = Field(description="index versions switched to since start")
    reload_error: Optional[str] = Field(description="why the newest published version is not served")
    gallery_files: bool = Field(description="whether /gallery and /thumb can serve the images")
    forward_passes: int = Field(description="encoder forward passes since start (several queries may share one)")
    images_encoded: int = Field(description="query images encoded since start")
    limits: LimitsOut


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    ready: bool
    reason: Optional[str] = None
    count: Optional[int] = None
    model: Optional[str] = None
