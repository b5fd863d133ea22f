"""Exact and approximate top-k matching: mmpretrain's method, torch, FAISS and imret on the same data.

Each (Q, M, D) configuration runs in a fresh subprocess; inside it every method sees the same
vectors. Time = median of ``--repeats`` runs; peak = largest RSS increase while the method runs
(sampled from /proc, so torch and FAISS allocations are seen), over the memory held before it.

    .venv/bin/python benchmarks/bench_matching.py            # full grid
    .venv/bin/python benchmarks/bench_matching.py --quick    # small subset
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import torch
import torch.nn.functional as F

K = 10
MMPRETRAIN_LIMIT_BYTES = 8 * 2**30
PAGE = os.sysconf("SC_PAGE_SIZE")
EXACT_METHODS = ("mmpretrain", "torch", "faiss_flat", "imret", "imret_numpy")
OPTIONAL_METHODS = ("imret_bf16",)  # exact through a bfloat16 shortlist; pass with --methods
APPROX = {
    "HNSW32": [{"efSearch": 128}, {"efSearch": 256}, {"efSearch": 512}],
    # 4-bit PQ codes (fast scan): 8-bit PQ training took minutes even on 20k vectors on this machine.
    "IVF{nlist},PQ{m}x4fs,RFlat": [{"nprobe": 32, "k_factor_rf": 16}, {"nprobe": 128, "k_factor_rf": 32},
                                   {"nprobe": 192, "k_factor_rf": 32}, {"nprobe": 256, "k_factor_rf": 32}],
}


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class PeakRSS:
    """Samples RSS in a thread; ``peak`` is the largest increase over the start value."""

    def __enter__(self) -> "PeakRSS":
        self.base = rss()
        self.top = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.top = max(self.top, rss())
            time.sleep(0.002)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.top = max(self.top, rss())
        self.peak = self.top - self.base


def make_data(num_queries: int, size: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors from a Gaussian mixture (about 100 per cluster); queries are noisy gallery rows."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(max(1, size // 100), dim, generator=gen)
    gallery = np.empty((size, dim), dtype=np.float32)
    chunk = 65536
    for start in range(0, size, chunk):
        n = min(chunk, size - start)
        assign = torch.randint(0, centers.shape[0], (n,), generator=gen)
        rows = centers[assign] + torch.randn(n, dim, generator=gen)
        gallery[start:start + n] = F.normalize(rows, dim=1).numpy()
    picks = torch.randint(0, size, (num_queries,), generator=gen)
    queries = torch.from_numpy(gallery[picks.numpy()]) + 0.5 * torch.randn(num_queries, dim, generator=gen) / dim ** 0.5
    return F.normalize(queries, dim=1).numpy(), gallery


def mmpretrain_match(q: torch.Tensor, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mmpretrain's algorithm restated: broadcast cosine over (N, M, C), then sort the whole gallery."""
    sim = torch.cosine_similarity(q.unsqueeze(1), g.unsqueeze(0), dim=-1)
    scores, order = torch.sort(sim, descending=True, dim=-1)
    return scores[:, :K], order[:, :K]


def timed(fn, repeats: int, warmup: bool = True):
    times, peaks, out = [], [], None
    if warmup:
        fn()
    for _ in range(repeats):
        with PeakRSS() as mem:
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        peaks.append(mem.peak)
    return statistics.median(times), max(peaks), out


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth))
    return hits / truth.size


def run_config(num_queries: int, size: int, dim: int, methods: list[str], repeats: int,
               approx: bool, approx_types: list[str] | None = None) -> list[dict]:
    from imret.index.faiss_backend import build_faiss_index, faiss_search, set_search_params
    from imret.matching import rank, topk_similarity
    import faiss

    queries, gallery = make_data(num_queries, size, dim)
    q, g = torch.from_numpy(queries), torch.from_numpy(gallery)
    data_bytes = gallery.nbytes + queries.nbytes + num_queries * K * 12
    rows, truth = [], None
    base = dict(Q=num_queries, M=size, D=dim, threads=torch.get_num_threads())

    def record(method, seconds, peak, found=None, **extra):
        row = dict(base, method=method, seconds=seconds, qps=num_queries / seconds if seconds else None,
                   peak_mb=peak / 2**20 if peak is not None else None,
                   mem_ratio=(data_bytes + peak) / data_bytes if peak is not None else None, **extra)
        if found is not None and truth is not None:
            row["recall@10"] = recall_at_k(found, truth)
        rows.append(row)
        print(json.dumps(row), flush=True)

    flat = None
    if "faiss_flat" in methods:
        # FAISS keeps its own copy; every method then reads that copy so the gallery is held once.
        flat = faiss.IndexFlatIP(dim)
        flat.add(gallery)
        gallery = faiss.rev_swig_ptr(flat.get_xb(), size * dim).reshape(size, dim)
        g = torch.from_numpy(gallery)
    warm = num_queries * size * dim < 2e10
    calls = {}
    for method in methods:
        if method == "mmpretrain":
            need = num_queries * size * (dim * 4 + 4 + 12)
            if need > MMPRETRAIN_LIMIT_BYTES:
                record(method, None, None, skipped=f"needs ~{need / 2**30:.1f} GiB")
                continue
            calls[method] = lambda: mmpretrain_match(q, g)
        elif method == "torch":
            calls[method] = lambda: torch.topk(q @ g.T, K, dim=1)
        elif method == "faiss_flat":
            calls[method] = lambda: flat.search(queries, K)
        elif method == "imret_bf16":
            calls[method] = lambda: topk_similarity(q, g, K, "dot_product", precision="bfloat16")
        elif method == "imret":
            calls[method] = lambda: topk_similarity(q, g, K, "dot_product")
        elif method == "imret_numpy":  # rank() on numpy vectors: the engine's numpy path (no torch)
            calls[method] = lambda: rank(queries, gallery, K, "dot_product")
        else:
            raise ValueError(method)
    # Round-robin: each repeat runs every method once, so a burst of load from other jobs on the
    # shared cores hits all methods alike instead of one method's whole series.
    times = {m: [] for m in calls}
    peaks = {m: 0 for m in calls}
    outputs = {}
    for turn in range(repeats + (1 if warm else 0)):
        for method, fn in calls.items():
            with PeakRSS() as mem:
                start = time.perf_counter()
                outputs[method] = fn()
                elapsed = time.perf_counter() - start
            if warm and turn == 0:
                continue
            times[method].append(elapsed)
            peaks[method] = max(peaks[method], mem.peak)
    reference_scores = None
    for method in calls:
        scores, index = (np.asarray(part) for part in outputs.pop(method))
        if method == "imret":
            truth = index
        extra = {}
        if reference_scores is None and method == "torch":
            reference_scores = scores
        elif reference_scores is not None and method != "mmpretrain":
            # equal to the brute-force (torch) top-k scores, rank by rank (ties aside)
            extra["max_score_diff_vs_torch"] = float(np.abs(np.sort(scores, axis=1)[:, ::-1]
                                                            - reference_scores).max())
        record(method, statistics.median(times[method]), peaks[method], **extra)
    if truth is None:
        _, idx = topk_similarity(q, g, K, "dot_product")
        truth = idx.numpy()
    if approx:
        exact_seconds = next((r["seconds"] for r in rows if r["method"] == "imret"), None)
        for template, settings in APPROX.items():
            if approx_types and template.split(",")[0].rstrip("{nlist}") not in approx_types:
                continue
            nlist = int(size ** 0.5)
            factory = template.format(nlist=nlist, m=dim // 8)
            start = time.perf_counter()
            index = build_faiss_index(gallery, factory, "cosine_similarity")
            build = time.perf_counter() - start
            for params in settings:
                set_search_params(index, params)
                seconds, peak, out = timed(lambda: faiss_search(index, queries, K, "cosine_similarity"), repeats, warm)
                record(f"imret {factory}", seconds, peak, found=out[1], params=params, build_s=build,
                       speedup_vs_exact=exact_seconds / seconds if exact_seconds else None)
            del index
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subset (Q=64/1000, M=10k/100k, D=512)")
    parser.add_argument("--queries", type=int, nargs="*", default=[64, 1000])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--methods", nargs="*", default=list(EXACT_METHODS))
    parser.add_argument("--approx", choices=["none", "1m512", "all"], default="1m512",
                        help="where to run HNSW / IVF-PQ (default: M=1M, D=512 only)")
    parser.add_argument("--approx-types", nargs="*", default=None, help="subset of: HNSW32 IVF")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="append JSON lines here")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-approx", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_config(*args.child, methods=args.methods, repeats=args.repeats, approx=args.child_approx,
                   approx_types=args.approx_types)
        return 0
    if args.quick:
        args.sizes, args.dims = [10_000, 100_000], [512]
    results = []
    for dim in args.dims:
        for size in args.sizes:
            for num_queries in args.queries:
                approx = args.approx == "all" or (args.approx == "1m512" and size == 1_000_000 and dim == 512
                                                  and num_queries == max(args.queries))
                cmd = [sys.executable, __file__, "--child", str(num_queries), str(size), str(dim),
                       "--repeats", str(args.repeats), "--methods", *args.methods]
                if approx:
                    cmd.append("--child-approx")
                    if args.approx_types:
                        cmd += ["--approx-types", *args.approx_types]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode:
                    print(f"config Q={num_queries} M={size} D={dim} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
                for line in proc.stdout.splitlines():
                    if line.startswith("{"):
                        results.append(json.loads(line))
                        if args.out:
                            with open(args.out, "a") as fh:
                                fh.write(line + "\n")
                print_table(results)
    return 0


def print_table(results: list[dict]) -> None:
    print("\n| Q | M | D | method | time (s) | queries/s | peak extra (MiB) | mem ratio | vs best of torch/faiss | recall@10 | notes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    by_config: dict[tuple, dict] = {}
    for r in results:
        by_config.setdefault((r["Q"], r["M"], r["D"]), {})[r["method"]] = r
    for r in results:
        cfg = by_config[(r["Q"], r["M"], r["D"])]
        baseline = [cfg[m]["seconds"] for m in ("torch", "faiss_flat") if m in cfg and cfg[m]["seconds"]]
        speed = f"{min(baseline) / r['seconds']:.2f}x" if baseline and r["seconds"] else ""
        note = r.get("skipped", "") or (json.dumps(r["params"]) + f" build {r['build_s']:.0f}s" if "params" in r else "")
        if "max_score_diff_vs_torch" in r:
            note = f"max score diff vs torch {r['max_score_diff_vs_torch']:.1e}"
        fmt = lambda v, f: (f.format(v) if v is not None else "-")
        print(f"| {r['Q']} | {r['M']} | {r['D']} | {r['method']} | {fmt(r['seconds'], '{:.3f}')} | "
              f"{fmt(r['qps'], '{:.0f}')} | {fmt(r['peak_mb'], '{:.0f}')} | {fmt(r['mem_ratio'], '{:.2f}')} | {speed} | "
              f"{fmt(r.get('recall@10'), '{:.3f}')} | {note} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
