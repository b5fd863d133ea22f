"""``imret index GALLERY --out INDEX``: encode a folder of images into a gallery index (incremental)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings
from .runtime_options import add_runtime_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``index`` subcommand."""
    parser = subparsers.add_parser(
        "index", help="index a folder of images for search",
        description="Encode every image under GALLERY with a pretrained model and store the vectors in the "
                    "index directory INDEX. Run it again after the folder changes: only new or changed images "
                    "are encoded and deleted ones are dropped; an interrupted run resumes. Unreadable images "
                    "are reported on stderr and skipped.")
    parser.add_argument("gallery", metavar="GALLERY", help="folder of images (searched recursively)")
    parser.add_argument("--out", "-o", required=True, metavar="INDEX", help="index directory to create or update")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo model name or config file (default: the index's model, or "
                             "efficientnet-lite0_gem for a new index), or a bundle folder from `imret export`; "
                             "see `imret index --list-models`")
    parser.add_argument("--index-type", default=None, metavar="TYPE",
                        help="search structure: Flat (exact, default) or a FAISS index_factory string such as "
                             "HNSW32 or IVF1024,PQ32")
    parser.add_argument("--rebuild", action="store_true",
                        help="start the index afresh (needed to switch an existing index to another model)")
    parser.add_argument("--dba", metavar="k=N[,alpha=A]", default=None,
                        help="after encoding, replace each gallery vector by a (similarity^alpha weighted) mean of "
                             "itself and its N nearest others (database-side augmentation; recorded in the "
                             "index's provenance; such an index is rebuilt, not updated: add --rebuild later)")
    parser.add_argument("--tta", metavar="flip,SIZE,...", default=None,
                        help="test-time augmentation: average the vectors of mirrored images (flip) and/or of several "
                             "crop sizes (e.g. flip,224,320); recorded in the index, and search applies the same "
                             "(default: the index's own, none for a new index)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-models", action="store_true", help="print the zoo model names and exit")
    add_runtime_arguments(parser)
    parser.set_defaults(func=run)


def _check_existing(index_path: Path, model, rebuild: bool) -> None:
    """Refuse (before any work) to add vectors of ``model`` to an index made by another model."""
    from imret.apis.searcher import check_provenance
    from imret.index.gallery import GalleryIndex

    if rebuild or not index_path.exists():
        return
    index = GalleryIndex.open(index_path, mmap=True)
    check_provenance(index_path, index.provenance, model)


def run(args: argparse.Namespace) -> int:
    """Index the folder; 0 on success (even with skipped images), 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from imret.apis import get_model, list_image_files, list_models, make_encoder
    from imret.apis.searcher import SearchInputError, model_name_of
    from imret.apis.zoo import DEFAULT_MODEL

    if args.list_models:
        print("\n".join(list_models()))
        return EXIT_OK
    if args.batch_size < 1:
        return fail("index", f"--batch-size must be >= 1, got {args.batch_size}")
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
    from imret.rerank.dba import DBA_PROVENANCE_KEY, apply_dba_to_index, parse_dba

    try:
        dba = parse_dba(args.dba) if args.dba is not None else None
    except ValueError as error:
        return fail("index", first_line(error))
    if index_path.exists() and not args.rebuild:
        try:
            existing = GalleryIndex.open(index_path, mmap=True).provenance
        except Exception:  # not an index: sync reports it below
            existing = {}
        if DBA_PROVENANCE_KEY in existing:
            return fail("index", f"the index {index_path} holds DBA-augmented vectors "
                                 f"({existing[DBA_PROVENANCE_KEY]}), which cannot be updated incrementally; "
                                 "add --rebuild (with --dba to augment again)")

    model_name = args.model
    try:
        if model_name is None:
            model_name = DEFAULT_MODEL
            if index_path.exists() and not args.rebuild:
                model_name = model_name_of(GalleryIndex.open(index_path, mmap=True).provenance)
        from imret.apis.model_dir import model_source
        from imret.apis.tta import parse_tta, tta_of, with_tta

        if args.tta is not None:
            tta = parse_tta(args.tta)
        else:
            tta = tta_of(GalleryIndex.open(index_path, mmap=True).provenance) \
                if index_path.exists() and not args.rebuild else parse_tta(None)
        model = with_tta(get_model(model_source(model_name), pretrained=args.checkpoint or True,
                                   runtime=args.runtime, device=args.device), **tta)
        _check_existing(index_path, model, args.rebuild)
    except (SearchInputError, ProvenanceMismatchError, KeyError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))

    encode = make_encoder(model, batch_size=args.batch_size)
    started = time.perf_counter()
    try:
        report = sync_folder(index_path, gallery, encode, provenance=model.provenance, rebuild=args.rebuild,
                             index_type=args.index_type, batch_size=args.batch_size,
                             progress=not args.no_progress)
    except (ProvenanceMismatchError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))
    if dba is not None:
        try:
            apply_dba_to_index(GalleryIndex.open(index_path, mmap=False), dba["k"], dba["alpha"])
        except ValueError as error:
            return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    for path, reason in sorted(report.failed.items()):
        print(f"imret index: skipped unreadable image {path}: {reason}", file=sys.stderr)

    count = len(GalleryIndex.open(index_path, mmap=True))
    summary = {
        "index": str(index_path), "gallery": str(gallery), "model": model.name, "runtime": model.runtime_name,
        "device": model.device, "count": count,
        "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "failed": len(report.failed), "encoded": int(report.encoded),
        "dba": dba,
        "seconds": round(seconds, 3),
        "images_per_second": round(report.encoded / seconds, 2) if report.encoded and seconds > 0 else None,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {gallery} -> {index_path}: {count} images with {model.name}; "
              f"encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
