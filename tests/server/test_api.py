"""The JSON API of a real ``imret serve`` process: rankings, paging, batches, files, thumbnails."""
from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pytest

from server_helpers import HELD_OUT, object_of

pytestmark = pytest.mark.shared_data


def _stored(index_path):
    from imret.index.gallery import GalleryIndex

    index = GalleryIndex.open(str(index_path), mmap=False)
    return index.ids, np.asarray(index.vectors(), dtype=np.float32)


def test_health_ready_info_and_openapi(served):
    server, gallery, index = served
    assert httpx.get(server.base + "/health").json() == {"status": "ok"}
    ready = httpx.get(server.base + "/ready").json()
    assert ready["ready"] is True and ready["count"] == 15
    info = httpx.get(server.base + "/api/v1/info").json()
    assert info["count"] == 15 and info["dim"] == 1280 and info["model"] == "efficientnet-lite0_gem"
    assert info["name"] == "index" and info["gallery_files"] is True and info["reload_error"] is None
    assert str(index) not in httpx.get(server.base + "/api/v1/info").text
    spec = httpx.get(server.base + "/openapi.json").json()
    for path in ("/api/v1/search", "/api/v1/search/by-id", "/api/v1/search/batch", "/api/v1/info", "/health",
                 "/ready", "/gallery/{item_id}", "/thumb/{item_id}"):
        assert path in spec["paths"], path
    assert "multipart/form-data" in spec["paths"]["/api/v1/search"]["post"]["requestBody"]["content"]
    docs = httpx.get(server.base + "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_upload_finds_the_other_views_of_the_object(served, ukbench_dir):
    server, gallery, _ = served
    for number in HELD_OUT:
        name = f"ukbench{number:05d}.jpg"
        response = httpx.post(server.base + "/api/v1/search", files={"image": (name, (ukbench_dir / name).read_bytes())},
                              data={"topk": "3"}, timeout=60)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["query"] == {"kind": "upload", "name": name, "id": None, "path": None, "image_url": None,
                                    "thumb_url": None}
        matches = payload["matches"]
        assert [m["rank"] for m in matches] == [1, 2, 3]
        assert [object_of(m["id"]) for m in matches] == [number // 4] * 3  # the 3 other views, first
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True)
        for match in matches:
            assert match["path"] == match["id"] and not match["id"].startswith("/")
            assert match["image_url"] == "/gallery/" + match["id"]


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the server's memory map (Linux /proc)")
def test_server_searches_without_loading_torch(served, ukbench_dir):
    """The default runtime (OpenVINO) and the numpy ranking path: no torch library in the server process."""
    server, _, _ = served
    name = f"ukbench{HELD_OUT[0]:05d}.jpg"
    response = httpx.post(server.base + "/api/v1/search", files={"image": (name, (ukbench_dir / name).read_bytes())},
                          data={"topk": "3"}, timeout=60)
    assert response.status_code == 200, response.text
    assert httpx.get(server.base + "/api/v1/search/by-id", params={"id": response.json()["matches"][0]["id"],
                                                                   "topk": 2}).status_code == 200
    mapped = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "openvino" in mapped  # the check sees the server's libraries
    assert "libtorch" not in mapped and "/torch/" not in mapped


def test_search_by_id_uses_the_stored_vector_and_matches_brute_force(served):
    server, _, index = served
    ids, vectors = _stored(index)
    query = "obj002/ukbench00009.jpg"
    expected = vectors @ vectors[ids.index(query)]
    order = np.argsort(-expected, kind="stable")
    response = httpx.get(server.base + "/api/v1/search/by-id", params={"id": query, "topk": 6})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["query"]["kind"] == "id" and payload["query"]["thumb_url"] == "/thumb/" + query
    got = [m["id"] for m in payload["matches"]]
    assert got == [ids[row] for row in order[:6]]
    assert got[0] == query
    np.testing.assert_allclose([m["score"] for m in payload["matches"]], expected[order[:6]], atol=1e-4)


def test_paging_is_a_slice_of_the_full_ranking(served):
    server, _, _ = served
    query = "obj001/ukbench00005.jpg"
    full = httpx.get(server.base + "/api/v1/search/by-id", params={"id": query, "topk": 15}).json()
    assert len(full["matches"]) == 15 and full["has_more"] is False
    pages = []
    for offset in range(0, 15, 4):
        page = httpx.get(server.base + "/api/v1/search/by-id", params={"id": query, "topk": 4, "offset": offset}).json()
        assert page["offset"] == offset and page["has_more"] == (offset + 4 < 15)
        pages.extend(page["matches"])
    assert [(m["rank"], m["id"]) for m in pages] == [(m["rank"], m["id"]) for m in full["matches"]]


def test_batch_search_equals_single_searches(served, ukbench_dir):
    server, _, _ = served
    names = [f"ukbench{n:05d}.jpg" for n in HELD_OUT]
    files = [("images", (name, (ukbench_dir / name).read_bytes())) for name in names]
    batch = httpx.post(server.base + "/api/v1/search/batch", files=files, data={"topk": "4"}, timeout=60)
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["query"]["name"] for r in results] == names
    for name, result in zip(names, results):
        single = httpx.post(server.base + "/api/v1/search", files={"image": (name, (ukbench_dir / name).read_bytes())},
                            data={"topk": "4"}, timeout=60).json()
        assert [m["id"] for m in result["matches"]] == [m["id"] for m in single["matches"]]
        np.testing.assert_allclose([m["score"] for m in result["matches"]],
                                   [m["score"] for m in single["matches"]], atol=1e-4)


def test_gallery_file_and_cached_thumbnail(served):
    server, gallery, _ = served
    item = "obj003/ukbench00013.jpg"
    original = httpx.get(f"{server.base}/gallery/{item}")
    assert original.status_code == 200 and original.content == (gallery / item).read_bytes()
    assert original.headers["content-type"] == "image/jpeg" and "max-age" in original.headers["cache-control"]
    thumb = httpx.get(f"{server.base}/thumb/{item}")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(thumb.content)) as image:
        assert max(image.size) == 256 and image.size == (256, 192)  # 640x480 -> 256 on the long side
    assert len(thumb.content) < len(original.content) / 5
    etag = thumb.headers["etag"]
    again = httpx.get(f"{server.base}/thumb/{item}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_files_outside_the_gallery_are_refused(served):
    server, gallery, _ = served
    assert (gallery / "escape.jpg").is_symlink()
    ids = httpx.get(server.base + "/api/v1/search/by-id", params={"id": "escape.jpg", "topk": 1})
    assert ids.status_code == 200  # indexed (the walker follows links) ...
    for kind in ("gallery", "thumb"):  # ... but its file lies outside the gallery folder
        response = httpx.get(f"{server.base}/{kind}/escape.jpg")
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "outside_gallery"


def test_a_full_queue_answers_503_and_the_rest_are_served(served, ukbench_dir):
    server = served[0]  # --queue-size 4
    image = ("q.jpg", (ukbench_dir / "ukbench00000.jpg").read_bytes())

    async def burst():
        async with httpx.AsyncClient(base_url=server.base, timeout=120,
                                     limits=httpx.Limits(max_connections=24)) as client:
            return await asyncio.gather(*(client.post("/api/v1/search", files={"image": image}, data={"topk": "1"})
                                          for _ in range(24)))

    responses = asyncio.run(burst())
    statuses = [response.status_code for response in responses]
    assert set(statuses) == {200, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.json()["code"] == "busy" and response.headers["retry-after"] == "1"
        else:
            assert object_of(response.json()["matches"][0]["id"]) == 0
    assert httpx.post(server.base + "/api/v1/search", files={"image": image}, timeout=60).status_code == 200


def test_concurrent_uploads_get_their_own_results(served, ukbench_dir):
    """Different images searched at once (micro-batched, overlapping forward passes) rank as one at a time."""
    server = served[0]  # --queue-size 4: a 503 is retried
    names = [f"ukbench{number:05d}.jpg" for number in range(12)]
    images = {name: (ukbench_dir / name).read_bytes() for name in names}

    def ranking(payload: dict) -> list[tuple[str, float]]:
        return [(match["id"], match["score"]) for match in payload["matches"]]

    alone = {}
    for name in names:
        response = httpx.post(server.base + "/api/v1/search", files={"image": (name, images[name])},
                              data={"topk": "3"}, timeout=60)
        assert response.status_code == 200, response.text
        alone[name] = ranking(response.json())

    async def search(client: httpx.AsyncClient, name: str) -> dict:
        for _ in range(200):
            response = await client.post("/api/v1/search", files={"image": (name, images[name])}, data={"topk": "3"})
            if response.status_code != 503:
                assert response.status_code == 200, response.text
                return response.json()
            await asyncio.sleep(0.05)
        raise AssertionError(f"{name}: the server stayed busy")

    async def together():
        async with httpx.AsyncClient(base_url=server.base, timeout=120) as client:
            return await asyncio.gather(*(search(client, name) for name in names * 2))

    for name, payload in zip(names * 2, asyncio.run(together())):
        assert payload["query"]["name"] == name
        found = ranking(payload)
        assert [item_id for item_id, _ in found] == [item_id for item_id, _ in alone[name]], name
        np.testing.assert_allclose([score for _, score in found], [score for _, score in alone[name]], atol=1e-4)
