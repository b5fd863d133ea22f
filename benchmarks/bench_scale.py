"""Scale-out benchmark: indexing with 1 vs 2 processes, and search with Milvus Lite vs local back ends.

Part 1 runs ``imret index`` on a UKBench subset with one process and with ``--workers 2`` (a torchrun
job on this machine), wall time including start-up and model loading, round-robin.
Part 2 indexes N random unit vectors (default 100k x 512) into: the local index (exact matching
engine), the local index with a FAISS HNSW32 structure, Milvus Lite FLAT and Milvus Lite HNSW, and
measures single-query latency, batch throughput and recall@10 against the exact results.

    python benchmarks/bench_scale.py [--images 64] [--count 100000] [--dim 512] [--skip-indexing]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
UKBENCH = ROOT.parent / "shared" / "datasets" / "ukbench"
IMRET = Path(sys.executable).parent / "imret"
PROVENANCE = {"model": "random-unit-vectors"}


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


# part 1 ----------------------------------------------------------------------------------------------
def bench_indexing(images: int, repeats: int, work: Path) -> str:
    gallery = work / "gallery"
    gallery.mkdir()
    for i in range(images):
        shutil.copy2(UKBENCH / f"ukbench{i:05d}.jpg", gallery)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    times: dict[int, list[float]] = {1: [], 2: []}
    encode_seconds: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(repeats):
        for workers in (1, 2):  # round robin
            out = work / f"index-{workers}-{repeat}"
            command = [str(IMRET), "index", str(gallery), "--out", str(out), "--no-progress", "--json",
                       "--shard-size", "16"] + (["--workers", str(workers)] if workers > 1 else [])
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            times[workers].append(time.perf_counter() - started)
            summary = json.loads(done.stdout.strip().splitlines()[-1])
            assert summary["count"] == images, summary
            encode_seconds[workers].append(summary["seconds"])
    base = statistics.median(times[1])
    rows = []
    for workers in (1, 2):
        wall = statistics.median(times[workers])
        rows.append([workers, f"{wall:.1f}", f"{images / wall:.2f}", f"{statistics.median(encode_seconds[workers]):.1f}",
                     f"{base / wall:.2f}"])
    return _table(["processes", "wall s", "images/s (wall)", "encode+commit s (rank 0)", "speed-up vs 1"], rows)


# part 2 ----------------------------------------------------------------------------------------------
def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fill(index, ids, vectors, step: int = 10000) -> None:
    for start in range(0, len(ids), step):
        index.add(ids[start:start + step], vectors[start:start + step])
        index.commit(checkpoint=True)
    index.commit()


def bench_search(count: int, dim: int, queries_n: int, single: int, work: Path) -> str:
    from imret.index import create_index, open_index

    rng = np.random.default_rng(0)
    vectors = _unit(rng, count, dim)
    queries = _unit(rng, queries_n, dim)
    ids = [f"v{i:07d}" for i in range(count)]
    specs = [("local exact", str(work / "local"), None, {"backend": "exact"}),
             ("local FAISS HNSW32", str(work / "faiss"), "HNSW32", {"faiss_params": {"efSearch": 64}}),
             ("Milvus Lite FLAT", f"milvus-lite:{work / 'm.db'}#flat", "FLAT", {}),
             ("Milvus Lite HNSW", f"milvus-lite:{work / 'm.db'}#hnsw", "HNSW:M=32,efConstruction=200,ef=64", {})]
    built, build_seconds = {}, {}
    for name, uri, index_type, _ in specs:
        started = time.perf_counter()
        index = create_index(uri, dim, "cosine_similarity", PROVENANCE, index_type=index_type)
        _fill(index, ids, vectors)
        index.close()
        built[name] = open_index(uri)
        built[name].search(queries[:1], 10, **dict(specs[[s[0] for s in specs].index(name)][3]))  # warm/load
        build_seconds[name] = time.perf_counter() - started
        print(f"built {name} in {build_seconds[name]:.1f} s", file=sys.stderr)
    exact = built["local exact"].search(queries, 10, backend="exact").ids
    latency = {name: [] for name, *_ in specs}
    batch = {name: [] for name, *_ in specs}
    recall = {}
    for round_ in range(2):  # round robin over the back ends
        for name, _, _, params in specs:
            index = built[name]
            for q in range(single):
                started = time.perf_counter()
                index.search(queries[q:q + 1], 10, **params)
                latency[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            found = index.search(queries, 10, **params)
            batch[name].append(time.perf_counter() - started)
            recall[name] = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found.ids, exact)])
    base_latency = statistics.median(latency["local exact"])
    base_batch = min(batch["local exact"])
    rows = []
    for name, *_ in specs:
        lat, best = statistics.median(latency[name]), min(batch[name])
        rows.append([name, f"{build_seconds[name]:.1f}", f"{lat * 1e3:.1f}", f"{lat / base_latency:.2f}",
                     f"{queries_n / best:.0f}", f"{base_batch / best:.2f}", f"{recall[name]:.3f}"])
    for index in built.values():
        index.close()
    return _table(["back end", "build s", "1-query ms (median)", "latency / exact", f"queries/s (batch {queries_n})",
                   "throughput / exact", "recall@10"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--single", type=int, default=30, help="single-query searches per back end and round")
    parser.add_argument("--skip-indexing", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench_scale-") as tmp:
        work = Path(tmp)
        if not args.skip_indexing:
            print(f"\nIndexing {args.images} UKBench images (imret index, efficientnet-lite0_gem):")
            print(bench_indexing(args.images, args.repeats, work))
        if not args.skip_search:
            print(f"\nSearch over {args.count} random unit vectors of dim {args.dim}, k=10, cosine:")
            print(bench_search(args.count, args.dim, args.queries, args.single, work))
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
