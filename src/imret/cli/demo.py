"""``imret demo``: index real photos, query with edited copies, show what comes back (offline)."""
from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings

# Photos bundled inside the scikit-image package (no download needed).
SKIMAGE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "moon.png",
                  "rocket.jpg", "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "motorcycle_left.png",
                  "page.png", "brick.png", "grass.png", "gravel.png", "clock_motion.png")
EDITS = ("crop", "flip", "colour", "rescale")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="index sample photos and search them with edited copies",
        description="Offline demonstration: index photos (scikit-image's bundled sample photos, or --gallery), "
                    "query the index with edited copies of them (crop, mirror, colour change, downscale), print "
                    "the ranked matches and how often the original comes first, and write match grids.")
    parser.add_argument("--gallery", metavar="DIR", help="folder of photos to use instead of the sample photos")
    parser.add_argument("--out", default="demo_output", metavar="DIR",
                        help="output folder for the gallery copy, queries, index and grids (default demo_output)")
    parser.add_argument("--model", "-m", default=None, help="zoo model name (default efficientnet-lite0_gem)")
    parser.add_argument("--topk", type=int, default=3, help="matches shown per query (default 3)")
    parser.add_argument("--max-images", type=int, default=16,
                        help="at most this many gallery photos get edited queries (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random edits")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def sample_photos(folder: Path) -> list[Path]:
    """Copy scikit-image's bundled sample photos into ``folder`` (kept when already there)."""
    import skimage

    source = Path(skimage.__file__).parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in SKIMAGE_PHOTOS:
        origin, target = source / name, folder / name
        if not origin.is_file():
            continue
        if not target.is_file() or target.stat().st_size != origin.stat().st_size:
            shutil.copyfile(origin, target)
        copied.append(target)
    return copied


def edit_photo(image, kind: str, rng: random.Random):
    """An edited copy of a Pillow image: 'crop', 'flip', 'colour' or 'rescale'."""
    from PIL import ImageEnhance, ImageOps

    image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    if kind == "crop":
        fraction = rng.uniform(0.6, 0.8)
        w, h = int(width * fraction), int(height * fraction)
        left, top = rng.randint(0, width - w), rng.randint(0, height - h)
        return image.crop((left, top, left + w, top + h))
    if kind == "flip":
        return ImageOps.mirror(image)
    if kind == "colour":
        image = ImageEnhance.Color(image).enhance(rng.uniform(1.5, 2.0))
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.7, 0.85))
        return ImageEnhance.Contrast(image).enhance(rng.uniform(1.1, 1.3))
    if kind == "rescale":
        scale = rng.uniform(0.3, 0.5)
        return image.resize((max(16, int(width * scale)), max(16, int(height * scale))))
    raise ValueError(f"unknown edit {kind!r}; edits are {', '.join(EDITS)}")


def make_queries(gallery: list[Path], folder: Path, max_images: int, seed: int) -> dict[Path, Path]:
    """Write edited copies of the first ``max_images`` photos; returns query -> original."""
    from PIL import Image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for position, original in enumerate(gallery[:max_images]):
        try:
            with Image.open(original) as opened:
                opened.load()
                photo = opened.copy()
        except Exception as error:  # an unreadable gallery file gets no queries
            print(f"imret demo: no queries for unreadable {original}: {first_line(error)}", file=sys.stderr)
            continue
        for kind in EDITS:
            target = folder / f"{position:03d}_{original.stem}__{kind}.jpg"
            edit_photo(photo, kind, rng).save(target, quality=90)
            expected[target] = original
    return expected


def run(args: argparse.Namespace) -> int:
    """Run the demonstration; 0 on success, 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from imret.apis import get_model, list_image_files, make_encoder
    from imret.apis.match_grid import write_match_grid
    from imret.apis.searcher import IndexSearcher
    from imret.apis.zoo import DEFAULT_MODEL
    from imret.index.errors import ProvenanceMismatchError
    from imret.index.sync import sync_folder

    started = time.perf_counter()
    out = Path(args.out)
    if args.gallery:
        gallery_dir = Path(args.gallery)
        if not gallery_dir.is_dir():
            return fail("demo", f"--gallery {gallery_dir} does not exist or is not a folder")
        gallery = [Path(p) for p in list_image_files(gallery_dir)]
        if not gallery:
            return fail("demo", f"--gallery {gallery_dir} contains no images")
    else:
        gallery_dir = out / "gallery"
        gallery = sample_photos(gallery_dir)
        print(f"gallery: {len(gallery)} sample photos bundled with scikit-image, copied to {gallery_dir}")
    if args.topk < 1 or args.max_images < 1:
        return fail("demo", "--topk and --max-images must be >= 1")

    query_dir = out / "queries"
    shutil.rmtree(query_dir, ignore_errors=True)
    expected = make_queries(gallery, query_dir, args.max_images, args.seed)
    print(f"queries: {len(expected)} edited copies ({', '.join(EDITS)}) in {query_dir}")

    try:
        model = get_model(args.model or DEFAULT_MODEL)
    except (KeyError, FileNotFoundError, ValueError) as error:
        return fail("demo", first_line(error))
    index_dir = out / "index"
    try:
        report = sync_folder(index_dir, gallery_dir, make_encoder(model),
                             provenance=model.provenance, rebuild=False, progress=not args.no_progress)
    except ProvenanceMismatchError:  # another model indexed this folder before: the demo owns it, so start afresh
        report = sync_folder(index_dir, gallery_dir, make_encoder(model),
                             provenance=model.provenance, rebuild=True, progress=not args.no_progress)
    for path, reason in sorted(report.failed.items()):
        print(f"imret demo: skipped unreadable image {path}: {reason}", file=sys.stderr)
    print(f"index: {index_dir} ({model.name}; encoded {report.encoded} new or changed images)")

    searcher = IndexSearcher(index_dir, model=model)
    queries = sorted(expected)
    results = searcher.search([str(q) for q in queries], topk=args.topk)
    grid_dir = out / "grids"
    shutil.rmtree(grid_dir, ignore_errors=True)
    hits, per_edit = 0, {kind: [0, 0] for kind in EDITS}
    print(f"\nranked matches (top {args.topk}); 'ok' = the original photo came first:")
    for query, matches in zip(queries, results):
        original = os.path.realpath(expected[query])
        found = bool(matches) and os.path.realpath(matches[0].path) == original
        hits += found
        kind = query.stem.rsplit("__", 1)[-1]
        per_edit[kind][0] += found
        per_edit[kind][1] += 1
        ranked = "  ".join(f"{m.rank}. {Path(m.path).name} ({m.score:.3f})" for m in matches)
        print(f"  {'ok  ' if found else 'MISS'} {query.name:<40} -> {ranked}")
        write_match_grid(grid_dir / f"{query.stem}.png", query, [(m.path, m.score, Path(m.path).name)
                                                                 for m in matches])
    total = len(queries)
    print(f"\nfound at rank 1: {hits}/{total} = {hits / max(total, 1):.1%} "
          f"(chance: 1/{len(searcher)} = {1 / max(len(searcher), 1):.1%})")
    print("  by edit: " + ", ".join(f"{kind} {n}/{t}" for kind, (n, t) in per_edit.items() if t))
    print(f"match grids: {grid_dir}/ ({total} PNG files: query first, then the matches with scores)")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return EXIT_OK
