"""What the integrity checks of a local index cost: open (cheap checks) and `imret verify` (full) vs a save.

Builds an index of N random vectors, then times, round-robin over R repetitions (median):
open without checksums (as an index from before checksums were recorded), open with the cheap checks
(sizes + ids.json hash), one search, the full verify, and a save. Prints a table with ratios to the
unchecked open. Usage: python benchmarks/bench_index_checks.py [N] [DIM] [R]
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from imret.index import GalleryIndex
from imret.index.verify import verify_index


def main() -> int:
    n, dim, repeats = (int(a) for a in (sys.argv[1:] + ["50000", "512", "5"][len(sys.argv) - 1:])[:3])
    root = tempfile.mkdtemp(prefix="imret-bench-checks-")
    try:
        checked, unchecked = os.path.join(root, "checked"), os.path.join(root, "unchecked")
        rng = np.random.default_rng(0)
        index = GalleryIndex.create(checked, dim, provenance={"model": "bench"}, index_type=None)
        index.add([f"folder{i % 100}/image{i:07d}.jpg" for i in range(n)], rng.standard_normal((n, dim)),
                  [{"path": f"/g/{i}.jpg", "size": i, "mtime": 1.0 * i, "sha256": f"{i:064x}"} for i in range(n)])
        index.save()
        shutil.copytree(checked, unchecked)
        version = os.path.join(unchecked, json.load(open(os.path.join(unchecked, "CURRENT")))["version"])
        manifest = json.load(open(os.path.join(version, "manifest.json")))
        del manifest["checksums"]
        json.dump(manifest, open(os.path.join(version, "manifest.json"), "w"))
        query = rng.standard_normal((1, dim)).astype(np.float32)

        def save():
            again = GalleryIndex.open(checked)
            again.upsert(["folder0/image0000000.jpg"], query)
            again.save()

        jobs = {
            "open, no checksums (before)": lambda: GalleryIndex.open(unchecked),
            "open with cheap checks": lambda: GalleryIndex.open(checked),
            "open + 1 exact search": lambda: GalleryIndex.open(checked).search(query, 10),
            "imret verify (full)": lambda: verify_index(checked),
            "save (write + checksums)": save,
        }
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(repeats):
            for name, job in jobs.items():
                started = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - started)
        base = statistics.median(times["open, no checksums (before)"])
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(checked) for f in fs) / 2 ** 20
        print(f"index: {n} x {dim} float32, {size:.0f} MiB on disk (current + previous version); "
              f"median of {repeats}, load average {os.getloadavg()[0]:.1f}")
        print("| operation | seconds | x open without checksums |")
        print("|---|---:|---:|")
        for name in jobs:
            median = statistics.median(times[name])
            print(f"| {name} | {median:.4f} | {median / base:.2f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
