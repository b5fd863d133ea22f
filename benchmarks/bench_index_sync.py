"""Incremental gallery sync: a 1,000-image folder where 10 images change is re-indexed by encoding 10.

Images are tiny generated PNGs and the encoder is a cheap deterministic function (pixels), so the
numbers show the sync machinery (scan, hash, save) rather than a network.

    .venv/bin/python benchmarks/bench_index_sync.py [--images 1000] [--changed 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from imret.index import GalleryIndex, sync_folder

PROVENANCE = {"encoder": "pixels-8x8", "weights_sha256": "none", "preprocessing": "none"}


def write_png(path: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)


class Encoder:
    """Pixels minus 127.5 as a 192-d vector; counts the images it encodes."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, paths):
        self.count += len(paths)
        rows = []
        for path in paths:
            with Image.open(path) as img:
                rows.append(np.asarray(img.convert("RGB"), dtype=np.float32).reshape(-1) - 127.5)
        return np.stack(rows), {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "gallery")
        paths = [os.path.join(folder, f"c{i % 10}", f"{i:05d}.png") for i in range(args.images)]
        for i, path in enumerate(paths):
            write_png(path, i)
        rows = []

        def run(name: str, index_path: str, **kw) -> None:
            encoder = Encoder()
            start = time.perf_counter()
            report = sync_folder(index_path, folder, encoder, PROVENANCE, progress=False, **kw)
            rows.append((name, time.perf_counter() - start, encoder.count, report))

        incremental = os.path.join(tmp, "incremental")
        run("first sync", incremental)
        run("re-sync, nothing changed", incremental)
        step = max(1, args.images // args.changed)
        for n, path in enumerate(paths[::step][:args.changed]):
            write_png(path, 10**6 + n)
        run(f"re-sync, {args.changed} changed", incremental)
        full = os.path.join(tmp, "full")
        run("full rebuild (new index)", full)

        queries = Encoder()(paths[::step][:args.changed] + paths[1:5])[0]
        a = GalleryIndex.open(incremental).search(queries, 10)
        b = GalleryIndex.open(full).search(queries, 10)
        same = a.ids == b.ids and np.allclose(a.scores, b.scores, atol=1e-6)

    print("| run | seconds | images encoded | added | updated | removed | unchanged |")
    print("|---|---|---|---|---|---|---|")
    for name, seconds, encoded, r in rows:
        print(f"| {name} | {seconds:.2f} | {encoded} | {r.added} | {r.updated} | {r.removed} | {r.unchanged} |")
    print(f"\nincremental index search == full rebuild search (top-10 ids and scores): {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
