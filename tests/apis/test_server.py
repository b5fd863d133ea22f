"""The search server on loopback: JSON endpoint, upload page, gallery images, bad uploads."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from imret.apis import IndexSearcher, make_encoder
from imret.apis.server import make_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, default_model):
    from imret.index.sync import sync_folder

    from apis_photos import copy_photos

    root = tmp_path_factory.mktemp("serve")
    gallery = root / "gallery"
    copy_photos(gallery)
    sync_folder(root / "index", gallery, make_encoder(default_model, progress=False),
                provenance=default_model.provenance, progress=False)
    httpd = make_server(IndexSearcher(root / "index", model=default_model), "127.0.0.1", 0, topk=3,
                        verbose=False)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", gallery
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: bytes, content_type: str = "application/octet-stream"):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    return urllib.request.urlopen(request, timeout=60)


def test_json_search_returns_the_uploaded_photo_first(server):
    base, gallery = server
    with _post(f"{base}/api/search?topk=2", (gallery / "coffee.png").read_bytes()) as response:
        payload = json.load(response)
    matches = payload["matches"]
    assert [m["rank"] for m in matches] == [1, 2]
    assert Path(matches[0]["path"]).name == "coffee.png"
    assert matches[0]["score"] == pytest.approx(1.0, abs=1e-3)
    # the matched gallery image is served back
    with urllib.request.urlopen(f"{base}/gallery/{matches[0]['id']}", timeout=30) as response:
        assert response.read() == (gallery / "coffee.png").read_bytes()


def test_upload_form_page_shows_matches(server):
    base, gallery = server
    with urllib.request.urlopen(base + "/", timeout=30) as response:
        page = response.read().decode()
    assert 'enctype="multipart/form-data"' in page and 'name="image"' in page
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"q.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + (gallery / "chelsea.png").read_bytes() + \
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"topk\"\r\n\r\n2\r\n--{boundary}--\r\n".encode()
    with _post(f"{base}/search", body, f"multipart/form-data; boundary={boundary}") as response:
        page = response.read().decode()
    assert "chelsea.png" in page and "#1" in page and "#2" in page and "#3" not in page


def test_bad_upload_and_unknown_gallery_id(server):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(f"{base}/api/search", b"definitely not an image")
    assert caught.value.code == 400
    assert "not a readable image" in json.load(caught.value)["error"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{base}/gallery/..%2F..%2Fetc%2Fpasswd", timeout=30)
    assert caught.value.code == 404
