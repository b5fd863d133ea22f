"""The Milvus back end beyond the shared suite: URIs and credentials, awkward ids, index types, real data.

Milvus Lite only (no network): one database file, hence one engine process, for the whole module.
"""
import shutil
import uuid

import numpy as np
from pathlib import Path

import pytest

from imret.cli.main import main
from imret.index import create_index, open_index, sync_folder
from imret.index.milvus import MilvusURIError, parse_milvus_uri
from imret.index.milvus.index_spec import parse_index_spec
from imret.index.redact import redact_credentials

PROVENANCE = {"model": "pixels", "weights_sha256": "0" * 64}


@pytest.fixture(scope="module")
def lite_db(tmp_path_factory):
    return tmp_path_factory.mktemp("milvus") / "tests.db"


@pytest.fixture
def lite_uri(lite_db):
    return f"milvus-lite:{lite_db}#t_{uuid.uuid4().hex[:12]}"


# URIs ------------------------------------------------------------------------------------------------
def test_uri_forms_and_credentials_are_never_in_the_printable_uri():
    env = {}
    target = parse_milvus_uri("milvus://alice:p%40ss@db.example:19531/gallery?db=prod&secure=1", env)
    assert target.uri == "milvus://db.example:19531/gallery?db=prod&secure=1"
    assert dict(target.connect) == {"uri": "https://db.example:19531", "db_name": "prod", "user": "alice",
                                    "password": "p@ss"}
    assert "p@ss" not in repr(target) and "alice" not in target.uri
    from_env = parse_milvus_uri("milvus://db:19530/g", {"IMRET_MILVUS_USER": "bob", "IMRET_MILVUS_PASSWORD": "pw"})
    assert dict(from_env.connect) == {"uri": "http://db:19530", "user": "bob", "password": "pw"}
    token = parse_milvus_uri("milvus://db/g", {"IMRET_MILVUS_TOKEN": "tok"})
    assert dict(token.connect) == {"uri": "http://db:19530", "token": "tok"}
    lite = parse_milvus_uri("milvus-lite:/data/x.db")
    assert (lite.uri, lite.collection, lite.lite_path) == ("milvus-lite:/data/x.db#imret_gallery", "imret_gallery",
                                                           "/data/x.db")
    assert redact_credentials("milvus://alice:secret@h:1/c") == "milvus://h:1/c"
    assert redact_credentials("/plain/dir@x") == "/plain/dir@x"


@pytest.mark.parametrize("uri, message", [
    ("milvus://h:port/c", "bad port"), ("milvus://h:1/", "collection name"), ("milvus://h:1/a/b", "one collection"),
    ("milvus://h:1/9bad", "not valid"), ("milvus://h:1/c?colour=red", "unknown option"),
    ("milvus-lite:/tmp/x.sqlite", "must end in .db"), ("milvus-lite:/tmp/x.db#bad-name", "not valid"),
])
def test_uri_typos_are_one_clear_error(uri, message):
    with pytest.raises(MilvusURIError, match=message):
        parse_milvus_uri(uri, {})


def test_index_specs_take_milvus_names_and_faiss_style_strings():
    assert parse_index_spec(None).index_type == "FLAT"
    hnsw = parse_index_spec("HNSW:M=32,efConstruction=200,ef=64")
    assert (hnsw.index_type, hnsw.build, hnsw.search) == ("HNSW", {"M": 32, "efConstruction": 200}, {"ef": 64})
    assert parse_index_spec("HNSW32").build == {"M": 32}
    assert (parse_index_spec("IVF256,PQ16").index_type, parse_index_spec("IVF256,PQ16").build) == \
        ("IVF_PQ", {"nlist": 256, "m": 16})
    assert parse_index_spec("ivf64,flat").index_type == "IVF_FLAT"
    for bad in ("HNSW:M", "9x", "HNSW:=3"):
        with pytest.raises(ValueError, match="index type"):
            parse_index_spec(bad)


# ids and metadata ------------------------------------------------------------------------------------
def test_any_id_and_metadata_string_round_trips(lite_uri):
    awkward = ['quote"d', "back\\slash", "it's", "new\nline", "caf\udce9.jpg", "ü/ñ.png", "x" * 5000, "a] or pk != ["]
    index = create_index(lite_uri, 3, "euclidean", PROVENANCE)
    vectors = np.arange(len(awkward) * 3, dtype=np.float32).reshape(-1, 3)
    meta = [{"path": f"/g/{i}", "label": i[:3], "mtime": 1700000000.123456789, "size": 2**40} for i in awkward]
    index.add(awkward, vectors, meta)
    index.commit()
    again = open_index(lite_uri)
    assert sorted(again.iter_ids()) == sorted(awkward) and len(again) == len(awkward)
    assert again.get_metadata(awkward) == [dict(m, id=i) for i, m in zip(awkward, meta)]
    found = again.search(vectors, 1)
    assert [row[0] for row in found.ids] == awkward
    again.remove(["a] or pk != [", "caf\udce9.jpg"])
    again.commit()
    assert sorted(open_index(lite_uri).iter_ids()) == sorted(set(awkward) - {"a] or pk != [", "caf\udce9.jpg"})


# index types -----------------------------------------------------------------------------------------
def _recall(approx_ids, exact_ids, k):
    return np.mean([len(set(a[:k]) & set(e[:k])) / k for a, e in zip(approx_ids, exact_ids)])


def test_flat_equals_local_exact_and_hnsw_recall_at_10(tmp_path, lite_db):
    """FLAT gives the exact top 10; an HNSW collection keeps its type and parameters and meets recall@10.

    (Milvus Lite 3.2.2 answered HNSW collections of this size exhaustively, so the graph search itself
    is not what this exercises; the pass-through of type and parameters is.)
    """
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    queries = rng.standard_normal((100, 32)).astype(np.float32)
    ids = [f"v{i:05d}" for i in range(len(vectors))]
    local = create_index(str(tmp_path / "local"), 32, "cosine_similarity", PROVENANCE)
    local.add(ids, vectors)
    exact = local.search(queries, 10)
    for spec in ("FLAT", "HNSW:M=16,efConstruction=200,ef=64"):
        uri = f"milvus-lite:{lite_db}#t_{uuid.uuid4().hex[:12]}"
        milvus = create_index(uri, 32, "cosine_similarity", PROVENANCE, index_type=spec)
        milvus.add(ids, vectors)
        milvus.commit()
        found = open_index(uri).search(queries, 10, **({"ef": 32} if spec != "FLAT" else {}))
        if spec == "FLAT":
            assert found.ids == exact.ids
            np.testing.assert_allclose(found.scores, exact.scores, atol=1e-5)
        else:
            assert open_index(uri).index_type == "HNSW"
            assert _recall(found.ids, exact.ids, 10) >= 0.99


# real data -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ukbench_vectors(shared_datasets_root_module):
    """48 UKBench images (12 objects x 4 views) and their vectors from the default model, encoded once."""
    from imret.apis import get_model, make_encoder

    paths = [str(shared_datasets_root_module / "ukbench" / f"ukbench{i:05d}.jpg") for i in range(48)]
    vectors, failed = make_encoder(get_model("efficientnet-lite0_gem"), batch_size=16)(paths)
    assert not failed
    return dict(zip(paths, vectors))


@pytest.fixture(scope="module")
def shared_datasets_root_module():
    SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"real data {SHARED_DATASETS} not found")
    return SHARED_DATASETS


def test_ukbench_gallery_synced_into_local_and_milvus_lite_ranks_the_same(tmp_path, lite_uri, ukbench_vectors):
    gallery = tmp_path / "ukbench"
    gallery.mkdir()
    for path in ukbench_vectors:
        shutil.copy2(path, gallery)
    cached = {str(gallery / p.rsplit("/", 1)[1]): v for p, v in ukbench_vectors.items()}

    def encode(paths):
        return np.stack([cached[p] for p in paths]), {}

    for uri in (str(tmp_path / "local"), lite_uri):
        report = sync_folder(uri, str(gallery), encode, PROVENANCE, progress=False, batch_size=16)
        assert report.added == 48
    local, milvus = open_index(str(tmp_path / "local")), open_index(lite_uri)
    queries = np.stack([cached[str(gallery / f"ukbench{i:05d}.jpg")] for i in range(48)])
    want, got = local.search(queries, 10), milvus.search(queries, 10)
    assert got.ids == want.ids
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
    # and the ranking is the real one: each image finds its own object's views first (N-S score on 12 objects)
    ns_score = np.mean([sum(int(h[len("ukbench"):-4]) // 4 == q // 4 for h in row[:4]) for q, row in enumerate(got.ids)])
    assert ns_score >= 3.0
    # a second sync with nothing changed encodes nothing, on both
    for uri in (str(tmp_path / "local"), lite_uri):
        assert sync_folder(uri, str(gallery), encode, PROVENANCE, progress=False).encoded == 0


# the command line ------------------------------------------------------------------------------------
def test_cli_refuses_a_collection_of_another_model_and_writes_nothing(tmp_path, lite_uri, capsys,
                                                                      shared_datasets_root_module):
    gallery = tmp_path / "g"
    gallery.mkdir()
    shutil.copy2(shared_datasets_root_module / "ukbench" / "ukbench00000.jpg", gallery)
    other = create_index(lite_uri, 8, "cosine_similarity",
                         {"model": "efficientnet-lite0_gem", "weights_sha256": "f" * 64, "encoding_version": 1})
    other.add(["kept"], np.ones((1, 8), np.float32))
    other.commit()
    assert main(["index", str(gallery), "--out", lite_uri, "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another model" in err and "weights_sha256" in err
    assert list(open_index(lite_uri).iter_ids()) == ["kept"]
    # search refuses too (queries would be encoded by another model than the collection's)
    assert main(["search", lite_uri, str(gallery / "ukbench00000.jpg")]) == 1
    assert "another model" in capsys.readouterr().err


def test_cli_unreachable_server_is_one_line_without_credentials(tmp_path, capsys):
    import socket

    with socket.socket() as sock:  # a local port nobody listens on: refused at once, no network
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gallery = tmp_path / "g"
    gallery.mkdir()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(gallery / "a.png")
    uri = f"milvus://alice:s3cret@127.0.0.1:{port}/gallery"
    for argv in (["index", str(gallery), "--out", uri, "--no-progress"], ["search", uri, str(gallery / "a.png")]):
        assert main(argv) == 1
        captured = capsys.readouterr()
        assert len(captured.err.strip().splitlines()) == 1 and "cannot connect" in captured.err
        assert "s3cret" not in captured.err + captured.out and "alice" not in captured.err
