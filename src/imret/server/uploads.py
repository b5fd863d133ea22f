"""Reading multipart uploads into (user's file name, bytes), with errors that name the problem."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from .errors import ApiError
from .limits import BODY_TAIL

FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    name: str      # as the user called the file (base name only), for messages
    data: bytes


def display_name(filename: Optional[str], position: int = 0) -> str:
    """The base name of an uploaded file, safe to show: no folders, no control characters, bounded."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    if not name:
        name = "upload" if position == 0 else f"upload #{position + 1}"
    return name if len(name) <= 120 else name[:117] + "..."


async def read_form(request: Request, max_files: int) -> FormData:
    """The parsed multipart form; 415 when the body is not multipart, 400 when it cannot be parsed."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        got = f"Content-Type {content_type[:60]!r}" if content_type else "no Content-Type"
        raise ApiError(415, "not_multipart", "send the image as multipart/form-data with a file field named "
                       f"'image' (curl -F image=@photo.jpg ...); got {got}")
    try:
        form = await request.form(max_files=max_files, max_fields=16, max_part_size=FIELD_BYTES)
    except ApiError:
        raise
    except MultiPartException as error:
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be read: {error.message}") from None
    except HTTPException as error:  # Starlette reports parser failures this way
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be read: {error.detail}") from None
    except (ValueError, KeyError, UnicodeError) as error:
        raise ApiError(400, "bad_multipart", f"the multipart body cannot be read ({type(error).__name__})") from None
    if not _closed(request, content_type):
        await form.close()
        raise ApiError(400, "bad_multipart", "the multipart body is incomplete (no closing boundary): the upload "
                       "was cut short or its Content-Length is smaller than the body")
    return form


def _closed(request: Request, content_type: str) -> bool:
    """Whether the body ended with the closing boundary ``--BOUNDARY--``."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    tail = request.scope.get("state", {}).get(BODY_TAIL)
    if not found or tail is None:
        return True  # nothing to judge by; the parser has had its say
    return tail.rstrip(b"\r\n").endswith(b"--" + found.group(1).encode("latin-1") + b"--")


async def files_of(form: FormData, field: str, max_files: int) -> list[Upload]:
    """The uploaded files in ``field`` (at least one, at most ``max_files``)."""
    values = form.getlist(field)
    if not values:
        raise ApiError(400, "missing_image", f"the form has no file field {field!r}")
    if len(values) > max_files:
        raise ApiError(400, "too_many_files", f"{len(values)} files in {field!r}; at most {max_files} per request")
    uploads = []
    for position, value in enumerate(values):
        if not isinstance(value, UploadFile):
            raise ApiError(400, "not_a_file", f"form field {field!r} must be a file upload, not a text value")
        uploads.append(Upload(display_name(value.filename, position), await value.read()))
    return uploads


def int_field(form: Optional[FormData], name: str, default: int, low: int, high: int,
              query_value: Optional[str] = None) -> int:
    """An integer form field (or query parameter) within [low, high]."""
    raw = form.get(name) if form is not None else None
    if raw is None:
        raw = query_value
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        raise ApiError(400, "bad_parameter", f"form field {name!r} must be a number, not a file")
    text = raw.strip()
    if not re.fullmatch(r"[+-]?\d{1,9}", text):
        raise ApiError(400, "bad_parameter", f"{name} must be a whole number from {low} to {high}, "
                       f"got {text[:20]!r}")
    value = int(text)
    if not low <= value <= high:
        raise ApiError(400, "bad_parameter", f"{name} must be from {low} to {high}, got {value}")
    return value
