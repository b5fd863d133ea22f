"""``imret index GALLERY --out INDEX``: encode a folder of images into a gallery index (incremental)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` subcommand."""
    parser = subparsers.add_parser(
        "index", help="index a folder of images for search",
        description="Encode every image under GALLERY with a pretrained model and store the vectors in the "
                    "index directory INDEX. Run it again after the folder changes: only new or changed images "
                    "are encoded and deleted ones are dropped; an interrupted run resumes. Unreadable images "
                    "are reported on stderr and skipped.")
    parser.add_argument("gallery", metavar="GALLERY", nargs="?", help="folder of images (searched recursively)")
    parser.add_argument("--out", "-o", metavar="INDEX", help="index directory to create or update (required)")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo model name or config file (default: the index's model, or "
                             "efficientnet-lite0_gem for a new index); see `imret models`")
    parser.add_argument("--index-type", default=None, metavar="TYPE",
                        help="search structure: Flat (exact, default) or a FAISS index_factory string such as "
                             "HNSW32 or IVF1024,PQ32")
    parser.add_argument("--rebuild", action="store_true",
                        help="start the index afresh (needed to switch an existing index to another model)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--json", action="store_true", help="print the summary (or --list-models) as JSON on stdout")
    parser.add_argument("--list-models", action="store_true",
                        help="print the zoo models (as `imret models`) and exit; GALLERY and --out are not needed")
    parser.set_defaults(func=run, usage_error=parser.error)


def _check_existing(index_path: Path, provenance: dict, rebuild: bool) -> None:
    """Refuse (before any work) to add vectors of the model of ``provenance`` to an index made by another."""
    from types import SimpleNamespace

    from imret.apis.searcher import check_provenance
    from imret.index.gallery import GalleryIndex

    if rebuild or not index_path.exists():
        return
    index = GalleryIndex.open(index_path, mmap=True)
    # check_provenance reads only the model's provenance and name, which are known without building it
    check_provenance(index_path, index.provenance, SimpleNamespace(provenance=provenance, zoo_name=provenance["model"]))


def run(args: argparse.Namespace) -> int:
    """Index the folder; 0 on success (even with skipped images), 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.list_models:
        from .models import print_models

        return print_models(args.json)
    if args.gallery is None or args.out is None:
        args.usage_error("the following arguments are required: "
                         + ", ".join(name for name, value in (("GALLERY", args.gallery), ("--out", args.out))
                                     if value is None))

    if args.batch_size < 1:
        return fail("index", f"--batch-size must be >= 1, got {args.batch_size}")

    from imret.apis.files import list_image_files
    from imret.apis.model_provenance import model_provenance
    from imret.apis.searcher import SearchInputError, model_name_of
    from imret.apis.zoo import DEFAULT_MODEL

    from .lazy_encoder import LazyEncoder
    from .output import log, print_json, show_progress

    gallery, index_path = Path(args.gallery), Path(args.out)
    if not gallery.is_dir():
        return fail("index", f"gallery folder {gallery} does not exist or is not a folder")
    if not list_image_files(gallery):
        return fail("index", f"gallery folder {gallery} contains no images (looked for .jpg, .png, ... files)")
    if index_path.exists() and not index_path.is_dir():
        return fail("index", f"--out {index_path} exists and is not an index directory")

    from imret.index.errors import ProvenanceMismatchError
    from imret.index.gallery import GalleryIndex
    from imret.index.sync import sync_folder

    model_name = args.model
    try:
        if model_name is None:
            model_name = DEFAULT_MODEL
            if index_path.exists() and not args.rebuild:
                model_name = model_name_of(GalleryIndex.open(index_path, mmap=True).provenance)
        provenance = model_provenance(model_name)
        _check_existing(index_path, provenance, args.rebuild)
    except (SearchInputError, ProvenanceMismatchError, KeyError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))

    # The folder is scanned first; the model is built only when some image needs encoding.
    encode = LazyEncoder(model_name, provenance, batch_size=args.batch_size)
    started = time.perf_counter()
    try:
        report = sync_folder(index_path, gallery, encode, provenance=provenance, rebuild=args.rebuild,
                             index_type=args.index_type, batch_size=args.batch_size,
                             progress=show_progress(args))
    except (ProvenanceMismatchError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    for path, reason in sorted(report.failed.items()):
        log.warning("skipped unreadable image %s: %s", path, reason)

    count = len(GalleryIndex.open(index_path, mmap=True))
    summary = {
        "index": str(index_path), "index_abs": os.path.abspath(index_path),
        "gallery": str(gallery), "gallery_abs": os.path.abspath(gallery),
        "model": provenance["model"], "model_loaded": encode.loaded, "count": count,
        "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "failed": len(report.failed), "encoded": int(report.encoded),
        "seconds": round(seconds, 3),
        "images_per_second": round(report.encoded / seconds, 2) if report.encoded and seconds > 0 else None,
    }
    if args.json:
        print_json(summary)
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {gallery} -> {index_path}: {count} images with {provenance['model']}; "
              f"encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
