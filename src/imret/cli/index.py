"""``imret index GALLERY --out INDEX``: encode a folder of images into a gallery index (incremental)."""
from __future__ import annotations

import argparse
import sys
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
    parser.add_argument("gallery", metavar="GALLERY", help="folder of images (searched recursively)")
    parser.add_argument("--out", "-o", required=True, metavar="INDEX",
                        help="index to create or update: a directory (an existing empty one is fine)")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo model name or config file (default: the index's model, or "
                             "efficientnet-lite0_gem for a new index); see `imret index --list-models`")
    parser.add_argument("--index-type", default=None, metavar="TYPE",
                        help="search structure: Flat (exact, default) or a FAISS index_factory string such as "
                             "HNSW32 or IVF1024,PQ32")
    parser.add_argument("--rebuild", action="store_true",
                        help="start the index afresh (needed to switch an existing index to another model)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-models", action="store_true", help="print the zoo model names and exit")
    parser.set_defaults(func=run)


def _stored_provenance(index_uri: str):
    """The provenance of the index at ``index_uri``, None when there is none yet.

    Opened for writing: what an interrupted run left is repaired first.
    """
    from imret.index import open_index

    try:
        with open_index(index_uri, writable=True) as index:
            return index.provenance
    except FileNotFoundError:
        return None


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
    from imret.index import resolve_backend, scheme_of

    gallery, index_uri = Path(args.gallery), args.out
    index_path = Path(index_uri) if scheme_of(index_uri) == "local" else None
    if not gallery.is_dir():
        return fail("index", f"gallery folder {gallery} does not exist or is not a folder")
    if not list_image_files(gallery):
        return fail("index", f"gallery folder {gallery} contains no images (looked for .jpg, .png, ... files)")
    if index_path is not None and index_path.exists() and not index_path.is_dir():
        return fail("index", f"--out {index_path} exists and is not an index directory")

    from imret.apis.searcher import check_provenance
    from imret.index.errors import ProvenanceMismatchError
    from imret.index.sync import sync_folder

    try:
        resolve_backend(index_uri).check_target(index_uri, overwrite=True)
        stored = None if args.rebuild else _stored_provenance(index_uri)
        model = get_model(args.model or (model_name_of(stored) if stored is not None else DEFAULT_MODEL))
        if stored is not None:
            check_provenance(index_uri, stored, model)
    except (SearchInputError, ProvenanceMismatchError, KeyError, FileNotFoundError, FileExistsError,
            ValueError) as error:
        return fail("index", first_line(error))

    encode = make_encoder(model, batch_size=args.batch_size)
    started = time.perf_counter()
    try:
        report = sync_folder(index_uri, gallery, encode, provenance=model.provenance, rebuild=args.rebuild,
                             index_type=args.index_type, batch_size=args.batch_size,
                             progress=not args.no_progress)
    except (ProvenanceMismatchError, FileNotFoundError, FileExistsError, ValueError) as error:
        return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    from imret.index.names import display_name, name_fields
    from imret.utils.json_output import dump_json

    for path, reason in sorted(report.failed.items()):
        print(f"imret index: skipped unreadable image {display_name(path)}: {display_name(reason)}", file=sys.stderr)

    count = report.count
    summary = {
        **name_fields("index", index_uri), **name_fields("gallery", str(gallery)), "model": model.zoo_name,
        "count": count,
        "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "failed": len(report.failed), "encoded": int(report.encoded),
        "seconds": round(seconds, 3),
        "images_per_second": round(report.encoded / seconds, 2) if report.encoded and seconds > 0 else None,
    }
    if args.json:
        print(dump_json(summary))
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {display_name(str(gallery))} -> {display_name(index_uri)}: {count} images with "
              f"{model.zoo_name}; "
              f"encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
