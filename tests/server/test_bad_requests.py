"""Every bad request gets a 4xx JSON error naming the problem, and the server keeps serving."""
from __future__ import annotations

import threading

import httpx
import pytest

from server_helpers import assert_clean_error, multipart, parse_response, raw_exchange

pytestmark = pytest.mark.shared_data

POST = "POST /api/v1/search HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"


def _form_request(body: bytes, content_type: str, extra: str = "") -> bytes:
    return (POST + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _check(served, raw: bytes, code: str = "", status: int = 0, contains: str = "", **kwargs) -> dict:
    server, gallery, index = served
    reply = raw_exchange(server.port, raw, **kwargs)
    got_status, headers, body = parse_response(reply)
    payload = assert_clean_error(got_status, headers, body, forbidden=(str(gallery), str(index)))
    if status:
        assert got_status == status, (got_status, payload)
    if code:
        assert payload["code"] == code, payload
    if contains:
        assert contains in payload["error"], payload
    assert httpx.get(server.base + "/health", timeout=10).status_code == 200  # still serving
    return payload


def test_malformed_http(served):
    raw = b"GET /health HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n"
    assert "header" in _check(served, raw, "malformed_request", 400)["error"]
    _check(served, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", "malformed_request", 400,
           "request line")
    _check(served, b"GET /gallery/\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n", "malformed_request", 400)


def test_bad_content_lengths(served):
    _check(served, (POST + "Content-Length: abc\r\n\r\n").encode(), "malformed_request", 400, "Content-Length")
    _check(served, (POST + "Content-Length: 5\r\nContent-Length: 7\r\n\r\n12345").encode(), "malformed_request",
           400, "Content-Length")
    # absent: no body at all, so no image
    _check(served, (POST + "Content-Type: multipart/form-data; boundary=b\r\n\r\n").encode(), status=400)
    # larger than the body sent: the body deadline (2 s in this server) answers 408
    _check(served, (POST + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500\r\n\r\n--b\r\n")
           .encode(), "body_timeout", 408)
    # smaller than the body sent: the upload is cut short, and what follows is not a request
    body, content_type = multipart([("image", "cut.jpg", b"\xff\xd8" + b"x" * 200)])
    raw = (POST + f"Content-Type: {content_type}\r\nContent-Length: {len(body) - 40}\r\n\r\n").encode() + body
    _check(served, raw, "bad_multipart", 400, "incomplete")
    raw = (POST + f"Content-Type: {content_type}\r\nContent-Length: 60\r\n\r\n").encode() + body
    _check(served, raw, "bad_multipart", 400, "incomplete")


def test_oversized_uploads_are_refused_before_they_are_read(served):
    # declared: refused at once (this server allows 1 MB)
    _check(served, (POST + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n")
           .encode(), "upload_too_large", 413, "1 MB")
    # chunked without a length: refused once the streamed bytes pass the limit
    head = (POST + "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    part = b'--b\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n\r\n'
    first = b"%x\r\n" % len(part) + part + b"\r\n"
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    _check(served, head, "upload_too_large", 413, chunks=[first] + [chunk] * 20)


def test_bad_multipart_and_fields(served, ukbench_dir):
    jpeg = (ukbench_dir / "ukbench00000.jpg").read_bytes()
    _check(served, _form_request(b"0123456789", "multipart/form-data; boundary=zz"), "bad_multipart", 400)
    _check(served, _form_request(b"0123456789", "multipart/form-data"), "bad_multipart", 400)
    _check(served, _form_request(jpeg, "image/jpeg"), "not_multipart", 415, "multipart/form-data")
    body, content_type = multipart([("topk", None, b"\xff\xfe"), ("image", "q.jpg", jpeg)])
    _check(served, _form_request(body, content_type), "bad_parameter", 400, "topk")
    body, content_type = multipart([("topk", None, b"0"), ("image", "q.jpg", jpeg)])
    _check(served, _form_request(body, content_type), "bad_parameter", 400, "topk")
    body, content_type = multipart([("photo", "q.jpg", jpeg)])
    _check(served, _form_request(body, content_type), "missing_image", 400, "'image'")
    body, content_type = multipart([("image", None, b"just text")])
    _check(served, _form_request(body, content_type), "not_a_file", 400)
    name = "caf\xe9-\xff.jpg".encode("latin-1")  # a non-UTF-8 file name
    body, content_type = multipart([("image", "x", jpeg)])
    body = body.replace(b'filename="x"', b'filename="' + name + b'"')
    server = served[0]
    status, _, reply = parse_response(raw_exchange(server.port, _form_request(body, content_type)))
    assert status == 200, reply


def test_non_images_name_the_users_file(served, tmp_path):
    for name, data in (("notes.txt", b"definitely not an image"), ("empty.jpg", b""),
                       ("truncated.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")):
        body, content_type = multipart([("image", name, data)])
        payload = _check(served, _form_request(body, content_type), "not_an_image", 400, name)
        assert "not a readable image" in payload["error"]


def test_pixel_bombs_are_refused(served):
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, format="PNG")  # 81 M pixels in a few kB
    body, content_type = multipart([("image", "bomb.png", buffer.getvalue())])
    _check(served, _form_request(body, content_type), "image_too_large", 413, "bomb.png")


def test_unknown_ids_and_path_tricks(served, tmp_path):
    server, _, _ = served
    cases = {
        "/api/v1/search/by-id?id=nope.jpg": ("unknown_id", 404),
        "/api/v1/search/by-id?id=..%2F..%2Fetc%2Fpasswd": ("bad_id", 400),
        "/api/v1/search/by-id?id=%2Fetc%2Fpasswd": ("bad_id", 400),
        "/api/v1/search/by-id": ("bad_parameter", 400),
        "/api/v1/search/by-id?id=obj000/ukbench00001.jpg&topk=abc": ("bad_parameter", 400),
        "/api/v1/search/by-id?id=obj000/ukbench00001.jpg&topk=100000": ("bad_parameter", 400),
        "/gallery/nope.jpg": ("unknown_id", 404),
        "/gallery/..%2F..%2F..%2Fetc%2Fpasswd": ("bad_id", 400),
        "/gallery/%2Fetc%2Fpasswd": ("bad_id", 400),
        "/gallery/obj000/..%2F..%2Findex%2FCURRENT": ("bad_id", 400),
        "/gallery/obj000%5C..%5C..%5Cetc%5Cpasswd": ("bad_id", 400),
        "/gallery/obj000/ukbench00001.jpg%00.txt": ("bad_id", 400),
        "/thumb/../../etc/passwd": ("bad_id", 400),
        "/thumb/%252e%252e%252fetc%252fpasswd": ("unknown_id", 404),
        "/no/such/page": ("http_404", 404),
    }
    for target, (code, status) in cases.items():
        raw = f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
        payload = _check(served, raw, code, status)
        assert "passwd" not in payload["error"] or "invalid" in payload["error"] or "no gallery" in payload["error"]
    _check(served, b"DELETE /api/v1/info HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "http_405", 405)


def test_slow_clients_are_cut_off_and_others_served(served):
    server = served[0]
    replies = []

    def slow_headers() -> None:
        replies.append(raw_exchange(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\n",
                                    chunks=[b"X-Slow: 1\r\n"] * 20, pause=0.5, timeout=15))

    threads = [threading.Thread(target=slow_headers) for _ in range(20)]
    for thread in threads:
        thread.start()
    for _ in range(5):  # served meanwhile
        assert httpx.get(server.base + "/health", timeout=10).status_code == 200
    for thread in threads:
        thread.join(30)
    assert len(replies) == 20
    for reply in replies:
        status, headers, body = parse_response(reply)
        assert status == 408 and assert_clean_error(status, headers, body)["code"] == "header_timeout"
    assert "Traceback" not in server.log()
