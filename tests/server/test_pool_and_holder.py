"""The micro-batching encoder pool, the hot-reload holder, id checks and the thumbnail cache, in-process."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from imret.server.batcher import EncoderPool, QueueFullError
from imret.server.errors import ApiError
from imret.server.files import GalleryFile, ThumbnailCache, check_item_id, resolve_gallery_file
from imret.server.holder import IndexHolder


class RecordingEncoder:
    """Encodes image k (an array filled with k) to the vector [k, 2k]; records each forward pass."""

    def __init__(self, delay: float = 0.05, gate: threading.Event = None) -> None:
        self.delay, self.gate, self.batches = delay, gate, []

    def __call__(self, images):
        if self.gate is not None:
            self.gate.wait(10)
        values = [float(image.flat[0]) for image in images]
        if any(value < 0 for value in values):
            raise ValueError("negative image")
        self.batches.append(len(images))
        time.sleep(self.delay)
        return np.array([[value, 2 * value] for value in values], dtype=np.float32)


def _image(value: float) -> np.ndarray:
    return np.full((2, 2), value, dtype=np.float32)


def _run(pool: EncoderPool, coroutine):
    pool.start()
    try:
        return asyncio.run(coroutine)
    finally:
        pool.stop()


def test_concurrent_queries_share_forward_passes_and_keep_their_order():
    encoder = RecordingEncoder(delay=0.05)
    pool = EncoderPool(encoder, workers=1, max_batch=8, window_ms=20, queue_size=64)

    async def main():
        return await asyncio.gather(*(pool.encode([_image(k), _image(k + 0.5)]) for k in range(12)))

    results = _run(pool, main())
    for k, vectors in enumerate(results):
        np.testing.assert_array_equal(vectors, [[k, 2 * k], [k + 0.5, 2 * k + 1]])
    assert sum(encoder.batches) == 24
    assert len(encoder.batches) < 12 and max(encoder.batches) == 8  # batched, never above max_batch


def test_a_full_queue_refuses_at_once():
    gate = threading.Event()
    pool = EncoderPool(RecordingEncoder(delay=0, gate=gate), workers=1, max_batch=4, window_ms=0, queue_size=3)

    async def main():
        waiting = [asyncio.ensure_future(pool.encode([_image(k)])) for k in range(3)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(QueueFullError):
            await pool.encode([_image(9)])
        refused_after = time.monotonic() - started
        assert pool.pending == 3
        gate.set()
        done = await asyncio.gather(*waiting)
        assert pool.pending == 0
        return refused_after, done

    refused_after, done = _run(pool, main())
    assert refused_after < 0.5 and [float(v[0, 0]) for v in done] == [0, 1, 2]


def test_one_bad_query_fails_only_its_own_request():
    encoder = RecordingEncoder(delay=0.02)
    pool = EncoderPool(encoder, workers=2, max_batch=8, window_ms=30, queue_size=64)

    async def main():
        return await asyncio.gather(pool.encode([_image(1)]), pool.encode([_image(-1)]), pool.encode([_image(3)]),
                                    return_exceptions=True)

    good, bad, other = _run(pool, main())
    assert isinstance(bad, ValueError)
    np.testing.assert_array_equal(good, [[1, 2]])
    np.testing.assert_array_equal(other, [[3, 6]])


class _Snapshot:
    def __init__(self, version: str) -> None:
        self.version, self.count = version, int(version[1:])


def test_holder_switches_on_a_new_pointer_and_keeps_serving_on_a_broken_one():
    pointer = {"token": (1,), "next": "v2", "broken": False}

    def reopen():
        if pointer["broken"]:
            raise RuntimeError("made by another model")
        return _Snapshot(pointer["next"])

    holder = IndexHolder(_Snapshot("v1"), (1,), lambda: pointer["token"], reopen)
    in_flight = holder.snapshot
    assert holder.check() is False and holder.snapshot is in_flight
    pointer["token"] = (2,)
    assert holder.check() is True and holder.snapshot.version == "v2" and holder.reloads == 1
    assert in_flight.version == "v1"  # a request holding the old snapshot keeps it
    pointer.update(token=(3,), broken=True)
    assert holder.check() is False and holder.snapshot.version == "v2"
    assert "another model" in holder.reload_error
    assert holder.check() is False  # the same broken version is not retried
    pointer.update(token=(4,), broken=False, next="v4")
    assert holder.check() is True and holder.snapshot.version == "v4" and holder.reload_error is None


@pytest.mark.parametrize("bad", ["", "../x.jpg", "a/../../x.jpg", "/etc/passwd", "a//b.jpg", "./a.jpg", "a\\b.jpg",
                                 "C:/x.jpg", "a\x00.jpg", "a\nb.jpg", "x" * 2000])
def test_item_ids_with_path_tricks_are_refused(bad):
    with pytest.raises(ApiError) as caught:
        check_item_id(bad)
    assert caught.value.status == 400 and "invalid gallery id" in caught.value.message


def test_item_ids_that_are_plain_relative_paths_pass():
    for good in ("a.jpg", "cats/tom.jpg", "a b/c..d.jpg", "日本/写真.png"):
        assert check_item_id(good) == good


def test_thumbnail_cache_is_bounded_and_keyed_by_file_state():
    made = []

    def make(path, name, size):
        made.append((path, size))
        return f"{path}:{len(made)}".encode().ljust(100, b".")

    cache = ThumbnailCache(make, 256, max_bytes=250)
    a, b, c = (GalleryFile(f"/g/{n}.jpg", 10, 1) for n in "abc")
    first = cache.get(a, "a")
    assert cache.get(a, "a") == first and len(made) == 1
    changed = GalleryFile("/g/a.jpg", 11, 2)  # same path, edited file
    assert cache.get(changed, "a") != first and len(made) == 2
    cache.get(b, "b")
    cache.get(c, "c")  # 4 entries of 100 bytes > 250: the oldest go
    assert cache._bytes <= 250
    cache.get(a, "a")
    assert len(made) == 5  # a (old state) was evicted and made again


class _FileSnapshot:
    """What resolve_gallery_file needs: the recorded path per id and the gallery root."""

    def __init__(self, root, recorded: dict) -> None:
        self.root, self._recorded = str(root), recorded

    def stored_path(self, item_id):
        from imret.server.adapter import UnknownItemError

        if item_id not in self._recorded:
            raise UnknownItemError(item_id)
        return self._recorded[item_id]


def test_gallery_files_resolve_only_inside_the_root(tmp_path):
    root, outside = tmp_path / "gallery", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "a.jpg").write_bytes(b"a")
    (root / "notes.txt").write_bytes(b"t")
    (outside / "secret.jpg").write_bytes(b"s")
    (root / "link.jpg").symlink_to(outside / "secret.jpg")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    snapshot = _FileSnapshot(root, {
        "sub/a.jpg": str(root / "sub" / "a.jpg"), "link.jpg": str(root / "link.jpg"),
        "dirlink/secret.jpg": str(root / "dirlink" / "secret.jpg"), "notes.txt": str(root / "notes.txt"),
        "lies.jpg": str(outside / "secret.jpg"), "gone.jpg": str(root / "gone.jpg")})
    found = resolve_gallery_file(snapshot, "sub/a.jpg")
    assert found.real_path == str((root / "sub" / "a.jpg").resolve()) and found.size == 1
    expected = {"link.jpg": 403, "dirlink/secret.jpg": 403, "notes.txt": 403, "lies.jpg": 403, "gone.jpg": 404,
                "unknown.jpg": 404, "../outside/secret.jpg": 400}
    for item_id, status in expected.items():
        with pytest.raises(ApiError) as caught:
            resolve_gallery_file(snapshot, item_id)
        assert caught.value.status == status, (item_id, caught.value.message)
        assert str(tmp_path) not in caught.value.message
    snapshot.root = None  # an index without one gallery folder serves nothing
    with pytest.raises(ApiError) as caught:
        resolve_gallery_file(snapshot, "sub/a.jpg")
    assert caught.value.code == "no_gallery_root"
