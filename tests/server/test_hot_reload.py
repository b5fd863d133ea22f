"""Re-indexing while the server runs: it switches to the new version with every search answered."""
from __future__ import annotations

import threading
import time

import socket

import httpx
import pytest

from server_helpers import ServerProcess, assert_clean_error, build_index, copy_ukbench, parse_response

pytestmark = pytest.mark.shared_data


def test_reindex_is_picked_up_without_dropping_searches(tmp_path, ukbench_dir, server_model):
    gallery, index = tmp_path / "gallery", tmp_path / "index"
    copy_ukbench(ukbench_dir, gallery, range(4), per_object_folders=False)
    build_index(server_model, gallery, index)
    server = ServerProcess(index, tmp_path / "server.log", "--reload-interval", "0.2",
                           "--cors-origin", "http://app.example", "--max-connections", "12")
    try:
        base = server.wait_ready()
        assert httpx.get(base + "/api/v1/info").json()["count"] == 4
        query = (ukbench_dir / "ukbench00005.jpg").read_bytes()
        outcomes: list[tuple[int, int]] = []
        stop = threading.Event()

        def search_forever() -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                while not stop.is_set():
                    response = client.post("/api/v1/search", files={"image": ("q.jpg", query)}, data={"topk": "5"})
                    outcomes.append((response.status_code, response.json().get("count", -1)))

        clients = [threading.Thread(target=search_forever) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            copy_ukbench(ukbench_dir, gallery, [4], per_object_folders=False)
            build_index(server_model, gallery, index)  # what `imret index` does: publish a new version
            deadline = time.monotonic() + 60
            while httpx.get(base + "/api/v1/info").json()["count"] != 5:
                assert time.monotonic() < deadline, "the server never switched to the new index version"
                time.sleep(0.1)
            served_new = len(outcomes)
            while len(outcomes) < served_new + 4 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in clients:
                thread.join(60)
        assert all(status == 200 for status, _ in outcomes), outcomes
        counts = [count for _, count in outcomes]
        assert 4 in counts and counts[-1] == 5 and set(counts) == {4, 5}
        info = httpx.get(base + "/api/v1/info").json()
        assert info["reloads"] == 1 and info["reload_error"] is None
        found = httpx.get(base + "/api/v1/search/by-id", params={"id": "ukbench00004.jpg", "topk": 5}).json()
        assert found["matches"][0]["id"] == "ukbench00004.jpg"
        assert httpx.get(base + "/gallery/ukbench00004.jpg").content == (gallery / "ukbench00004.jpg").read_bytes()
        # CORS: the configured origin only
        allowed = httpx.get(base + "/api/v1/info", headers={"Origin": "http://app.example"})
        assert allowed.headers.get("access-control-allow-origin") == "http://app.example"
        other = httpx.get(base + "/api/v1/info", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        _connection_cap(server, 12)
        _hostile_metadata_is_not_served(server, index)
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def _connection_cap(server: ServerProcess, cap: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(cap + 3)]
    try:
        idle[-1].settimeout(10)
        status, headers, body = parse_response(idle[-1].recv(4096))
        assert status == 503 and assert_clean_error(status, headers, body, busy=True)["code"] == "too_many_connections"
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 30
    while True:  # the server frees the slots as it notices the closed sockets
        try:
            if httpx.get(server.base + "/health", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _hostile_metadata_is_not_served(server: ServerProcess, index) -> None:
    """An index whose metadata names a file outside the gallery serves no such file."""
    from imret.index.gallery import GalleryIndex

    edited = GalleryIndex.open(str(index), mmap=False)
    meta = edited.get_metadata(["ukbench00004.jpg"])[0]
    edited.update_metadata(["ukbench00004.jpg"], [dict(meta, path="/etc/passwd")])
    edited.save()
    deadline = time.monotonic() + 60
    while httpx.get(server.base + "/api/v1/info").json()["reloads"] < 2:
        assert time.monotonic() < deadline, "the edited index was not picked up"
        time.sleep(0.1)
    assert httpx.get(server.base + "/api/v1/info").json()["gallery_files"] is False
    for kind in ("gallery", "thumb"):
        response = httpx.get(f"{server.base}/{kind}/ukbench00004.jpg")
        assert response.status_code in (403, 404) and "root:" not in response.text
        assert response.json()["code"] in ("no_gallery_root", "outside_gallery")


def test_cors_is_off_by_default(served):
    server = served[0]
    response = httpx.get(server.base + "/api/v1/info", headers={"Origin": "http://app.example"})
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
    preflight = httpx.options(server.base + "/api/v1/search", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
