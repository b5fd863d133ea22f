"""JPEG draft decoding against full decoding: speed of the preprocessing and UKBench N-S score.

For 640x480 UKBench JPEGs and for 12-megapixel JPEGs made by upscaling them (bicubic, 4000x3000,
quality 90, in a temporary folder), measures in one run, round-robin (full, draft, full, draft, ...):

- decode + preprocess ms/image: ``LoadImageFromFile -> ResizeEdge(256) -> CenterCrop(224) -> PackInputs``
  (the default model's pipeline) with ``IMRET_JPEG_DRAFT=0`` (full decoding) and ``=1`` (draft);
- the N-S score (every image queries all, mean number of the object's 4 images in the top 4, max 4.0)
  with vectors from full and from draft decoding, and the mean cosine between the two vectors of each image.

    python benchmarks/bench_decode.py [--images 600] [--big-images 600] [--timed 30] [--size 4000x3000]
                                      [--big-dir DIR]   # keep/reuse the upscaled JPEGs there
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
UKBENCH = REPO.parent / "shared" / "datasets" / "ukbench"


def ns_score(vectors: np.ndarray, objects: np.ndarray) -> float:
    """UKBench N-S: mean number of same-object images among each query's top 4 (the query included)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = unit @ unit.T
    top4 = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    return float((objects[top4] == objects[:, None]).sum(axis=1).mean())


def upscale(sources: list[Path], folder: Path, size: tuple[int, int]) -> list[Path]:
    from PIL import Image

    made = []
    for source in sources:
        target = folder / source.name
        made.append(target)
        if target.is_file():
            with Image.open(target) as existing:
                if existing.size == size:
                    continue
        with Image.open(source) as photo:
            photo.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(target, quality=90)
    return made


def set_draft(on: bool) -> None:
    os.environ["IMRET_JPEG_DRAFT"] = "1" if on else "0"


def time_round_robin(transform, paths: list[Path]) -> dict[str, float]:
    """Mean ms/image of the preprocessing, full and draft alternating image by image."""
    spent = {"full": 0.0, "draft": 0.0}
    for path in paths:
        for mode in ("full", "draft") if hash(path.name) % 2 else ("draft", "full"):
            set_draft(mode == "draft")
            started = time.perf_counter()
            transform(path)
            spent[mode] += time.perf_counter() - started
    return {mode: 1000 * seconds / len(paths) for mode, seconds in spent.items()}


def encode(model, transform, paths: list[Path], draft: bool) -> np.ndarray:
    from imret.apis.encode import encode_images

    set_draft(draft)
    result = encode_images(model, [str(p) for p in paths], batch_size=16, progress=False, transform=transform)
    assert not result.failed, result.failed
    return result.vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600, help="UKBench images for N-S (multiple of 4)")
    parser.add_argument("--big-images", type=int, default=None, help="upscaled images for N-S (default: --images)")
    parser.add_argument("--big-dir", default=None, help="folder for the upscaled JPEGs, kept and reused")
    parser.add_argument("--timed", type=int, default=30, help="images timed per size")
    parser.add_argument("--size", default="4000x3000", help="size of the upscaled JPEGs")
    args = parser.parse_args()
    from imret.apis import get_model
    from imret.apis.pipeline import ImageTransform

    width, height = (int(v) for v in args.size.split("x"))
    sources = sorted(UKBENCH.glob("ukbench*.jpg"))[:args.images - args.images % 4]
    big_count = args.big_images or len(sources)
    big_count -= big_count % 4
    model = get_model("efficientnet-lite0_gem")
    transform = ImageTransform(model.pipeline_cfg)
    load = os.getloadavg()
    temp = Path(args.big_dir) if args.big_dir else Path(tempfile.mkdtemp(prefix="imret-bench-decode-"))
    temp.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        started = time.perf_counter()
        big = upscale(sources[:big_count], temp, (width, height))
        print(f"made {len(big)} {width}x{height} JPEGs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for label, paths in (("UKBench 640x480", sources), (f"UKBench upscaled {width}x{height}", big)):
            objects = np.array([int(p.stem.replace("ukbench", "")) // 4 for p in paths])
            timing = time_round_robin(transform, paths[:args.timed])
            full = encode(model, transform, paths, draft=False)
            draft = encode(model, transform, paths, draft=True)
            cosine = np.sum(full * draft, axis=1) / (np.linalg.norm(full, axis=1) * np.linalg.norm(draft, axis=1))
            rows.append((f"{label} ({len(paths)})", timing["full"], timing["draft"], ns_score(full, objects),
                         ns_score(draft, objects), float(cosine.mean()), float(cosine.min())))
            print(rows[-1], file=sys.stderr)
    finally:
        if not args.big_dir:
            shutil.rmtree(temp)
    print(f"\nload average at start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, at end "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; (N) images for N-S, "
          f"{args.timed} timed round-robin per size\n")
    print("| images (N) | preprocess ms/image, full | draft | speed-up | N-S full | N-S draft | cosine full vs draft "
          "(mean / min) |")
    print("|---|---|---|---|---|---|---|")
    for label, full_ms, draft_ms, ns_full, ns_draft, cos_mean, cos_min in rows:
        print(f"| {label} | {full_ms:.1f} | {draft_ms:.1f} | {full_ms / draft_ms:.2f}x | {ns_full:.3f} | "
              f"{ns_draft:.3f} | {cos_mean:.5f} / {cos_min:.5f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
