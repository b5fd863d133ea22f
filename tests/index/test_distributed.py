"""Distributed indexing logic without processes: split, shard files, reuse, and the rank-0 commit."""
import os

import numpy as np
import pytest
from PIL import Image

from imret.index import GalleryIndex, sync_folder
from imret.index.dist_run import default_staging_dir, dist_env
from imret.index.distributed import (Shard, ShardLookup, ShardStore, chunk_key, chunks_of_rank, encode_share,
                                     files_to_encode, make_chunks)
from imret.index.scan import FileEntry, scan_folder

PROVENANCE = {"encoder": "pixels-4x4", "weights_sha256": "0" * 64}


def write_png(path, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


class PixelEncoder:
    """Pixels as a 48-d vector; records every path it encodes; files named bad* are unreadable."""

    def __init__(self):
        self.calls = []

    def __call__(self, paths):
        self.calls.extend(paths)
        good = [p for p in paths if not os.path.basename(p).startswith("bad")]
        vectors = [np.asarray(Image.open(p).convert("RGB"), np.float32).reshape(-1) - 127.5 for p in good]
        failed = {p: "OSError: unreadable" for p in paths if p not in good}
        return (np.stack(vectors) if vectors else np.zeros((0, 48), np.float32)), failed


def entries(n):
    return [FileEntry(f"d{i % 3}/{i:03d}.png", f"/g/d{i % 3}/{i:03d}.png", 100 + i, 1.5 * i) for i in range(n)]


@pytest.mark.parametrize("world_size", [1, 2, 3, 5])
def test_every_file_goes_to_exactly_one_rank_and_keys_do_not_depend_on_the_world(world_size):
    todo = entries(23)
    chunks = make_chunks(list(reversed(todo)), 4)  # input order does not matter
    assert [e.id for c in chunks for e in c] == sorted(e.id for e in todo)
    assert [len(c) for c in chunks] == [4, 4, 4, 4, 4, 3]
    shares = [chunks_of_rank(chunks, rank, world_size) for rank in range(world_size)]
    assert sorted(n for share in shares for n in share) == list(range(len(chunks)))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    keys = {chunk_key(chunks[n], PROVENANCE) for share in shares for n in share}
    assert keys == {chunk_key(c, PROVENANCE) for c in make_chunks(todo, 4)}
    with pytest.raises(ValueError, match="outside"):
        chunks_of_rank(chunks, world_size, world_size)


def test_chunk_key_changes_with_any_file_fingerprint_or_the_model():
    chunk = entries(3)
    key = chunk_key(chunk, PROVENANCE)
    assert key == chunk_key(list(chunk), dict(PROVENANCE))
    touched = [chunk[0], FileEntry(chunk[1].id, chunk[1].path, chunk[1].size, chunk[1].mtime + 1), chunk[2]]
    resized = [chunk[0], chunk[1], FileEntry(chunk[2].id, chunk[2].path, 7, chunk[2].mtime)]
    assert len({key, chunk_key(touched, PROVENANCE), chunk_key(resized, PROVENANCE),
                chunk_key(chunk, dict(PROVENANCE, weights_sha256="1" * 64))}) == 4


def test_files_to_encode_compares_size_and_mtime():
    todo = entries(4)
    stored = {todo[0].id: (todo[0].size, todo[0].mtime), todo[1].id: (todo[1].size, todo[1].mtime + 2)}
    assert [e.id for e in files_to_encode(todo, stored)] == [todo[1].id, todo[2].id, todo[3].id]


def test_shard_round_trip_and_torn_or_foreign_files_are_not_trusted(tmp_path):
    store = ShardStore(str(tmp_path / "staging"))
    odd = "caf\udce9.png"  # a file name that is not UTF-8
    vectors = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    shard = Shard("k1", ["a.png", odd], ["/g/a.png", f"/g/{odd}"], [1, 2], [0.25, 1e9 + 0.123456], vectors,
                  {"/g/bad.png": "OSError: x"})
    path = store.save(shard)
    again = store.load("k1")
    assert (again.ids, again.paths, again.sizes, again.mtimes, again.failed) == \
        (shard.ids, shard.paths, shard.sizes, shard.mtimes, shard.failed)
    np.testing.assert_array_equal(again.vectors, vectors)
    assert store.keys() == ["k1"] and store.load("absent") is None
    with open(path, "r+b") as handle:  # torn write
        handle.truncate(os.path.getsize(path) - 7)
    assert store.load("k1") is None
    os.replace(path, store.path("k2"))  # a shard stored under another key
    assert store.load("k2") is None


def test_two_ranks_then_commit_equals_one_process_and_a_rerun_reuses_every_shard(tmp_path):
    gallery = tmp_path / "gallery"
    for i in range(11):
        write_png(str(gallery / f"c{i % 3}" / f"{i:03d}.png"), i)
    (gallery / "bad0.png").write_bytes(b"not an image")
    reference = PixelEncoder()
    sync_folder(str(tmp_path / "one"), str(gallery), reference, PROVENANCE, progress=False)

    todo = files_to_encode(scan_folder(str(gallery))[0], {})
    chunks = make_chunks(todo, 3)
    store = ShardStore(default_staging_dir(str(tmp_path / "two")))
    assert store.directory == str(tmp_path / "two") + ".imret-staging"
    encoders = [PixelEncoder(), PixelEncoder()]
    reports = [encode_share(store, chunks, chunks_of_rank(chunks, rank, 2), encoders[rank], PROVENANCE)
               for rank in range(2)]
    assert sorted(encoders[0].calls + encoders[1].calls) == sorted(e.path for e in todo)
    assert not set(encoders[0].calls) & set(encoders[1].calls)
    assert [r.shards_written for r in reports] == [2, 2] and reports[0].dim == 48

    fallback = PixelEncoder()
    lookup = ShardLookup([store.load(chunk_key(c, PROVENANCE)) for c in chunks], fallback)
    report = sync_folder(str(tmp_path / "two"), str(gallery), lookup, PROVENANCE, progress=False)
    assert fallback.calls == [] and lookup.encoded == 0
    assert report.added == 11 and list(report.failed) == [str(gallery / "bad0.png")]
    one, two = GalleryIndex.open(str(tmp_path / "one")), GalleryIndex.open(str(tmp_path / "two"))
    assert one.ids == two.ids and one.get_metadata(one.ids) == two.get_metadata(two.ids)
    np.testing.assert_allclose(np.asarray(two.vectors()), np.asarray(one.vectors()), atol=1e-6)

    # a rerun (any world size) finds every shard; a shard lost (killed before writing) is re-encoded alone
    os.remove(store.path(chunk_key(chunks[1], PROVENANCE)))
    again = PixelEncoder()
    rerun = encode_share(store, chunks, chunks_of_rank(chunks, 0, 1), again, PROVENANCE)
    assert again.calls == [e.path for e in chunks[1]]
    assert (rerun.shards_written, rerun.shards_reused, rerun.encoded) == (1, len(chunks) - 1, len(chunks[1]))


def test_lookup_sends_files_changed_since_their_shard_to_the_encoder(tmp_path):
    gallery = tmp_path / "g"
    for i in range(3):
        write_png(str(gallery / f"{i}.png"), i)
    todo = scan_folder(str(gallery))[0]
    store = ShardStore(str(tmp_path / "s"))
    encode_share(store, make_chunks(todo, 10), [0], PixelEncoder(), PROVENANCE)
    shard = store.load(chunk_key(make_chunks(todo, 10)[0], PROVENANCE))
    write_png(str(gallery / "1.png"), 99)  # changed after it was encoded
    os.utime(gallery / "1.png", (1, 1))
    fallback = PixelEncoder()
    lookup = ShardLookup([shard], fallback)
    vectors, failed = lookup([str(gallery / f"{i}.png") for i in range(3)])
    assert fallback.calls == [str(gallery / "1.png")] and lookup.encoded == 1 and failed == {}
    truth, _ = PixelEncoder()([str(gallery / f"{i}.png") for i in range(3)])
    np.testing.assert_array_equal(vectors, truth)


def test_dist_env_reads_torchrun_variables():
    assert dist_env({}) is None and dist_env({"WORLD_SIZE": "1", "RANK": "0"}) is None
    env = dist_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (env.rank, env.world_size, env.local_rank) == (3, 4, 1)


def test_direct_writers_each_write_their_shards_and_the_commit_encodes_nothing(tmp_path):
    """The Milvus-server path (every rank upserts its own shards), run rank after rank into Milvus Lite."""
    from imret.index import open_index
    from imret.index.dist_run import DirectWriter, direct_writer

    gallery = tmp_path / "gallery"
    for i in range(9):
        write_png(str(gallery / f"c{i % 2}" / f"{i:03d}.png"), i)
    db = tmp_path / "m.db"
    one, two = f"milvus-lite:{db}#one", f"milvus-lite:{db}#two"
    assert direct_writer(two, PROVENANCE, None) is None  # Milvus Lite: one writer, rank 0 commits
    assert direct_writer("milvus://db:19530/g", PROVENANCE, None) is not None
    sync_folder(one, str(gallery), PixelEncoder(), PROVENANCE, progress=False)

    chunks = make_chunks(scan_folder(str(gallery))[0], 2)
    store = ShardStore(str(tmp_path / "staging"))
    writer = DirectWriter(two, PROVENANCE, "HNSW:M=8,ef=32")
    per_rank = [[], []]
    reports = [encode_share(store, chunks, chunks_of_rank(chunks, rank, 2), PixelEncoder(), PROVENANCE,
                            on_shard=per_rank[rank].append) for rank in range(2)]
    writer.prepare(reports[0].dim, rebuild=False)
    for rank in range(2):
        writer.write(per_rank[rank])
    assert len(open_index(two)) == 9

    def must_not_encode(paths):
        raise AssertionError(f"encoded {paths}")

    lookup = ShardLookup([], must_not_encode)
    report = sync_folder(two, str(gallery), lookup, PROVENANCE, progress=False)
    assert (report.unchanged, report.encoded, report.added) == (9, 0, 0)
    a, b = open_index(one), open_index(two)
    ids = sorted(a.iter_ids())
    assert sorted(b.iter_ids()) == ids and b.get_metadata(ids) == a.get_metadata(ids)
    np.testing.assert_allclose(b.get_vectors(ids), a.get_vectors(ids), atol=1e-6)
    assert b.index_type == "HNSW" and b.search_params == {"ef": 32}
