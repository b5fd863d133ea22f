"""``imret index GALLERY --out INDEX``: encode a folder of images into a gallery index (incremental)."""
from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--out", "-o", required=True, metavar="INDEX", help="index directory to create or update")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo model name or config file (default: the index's model, or "
                             "efficientnet-lite0_gem for a new index); see `imret index --list-models`")
    parser.add_argument("--index-type", default=None, metavar="TYPE",
                        help="search structure: Flat (exact, default) or a FAISS index_factory string such as "
                             "HNSW32 or IVF1024,PQ32")
    parser.add_argument("--rebuild", action="store_true",
                        help="start the index afresh (needed to switch an existing index to another model)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--workers", type=int, default=1, metavar="P",
                        help="encode with P processes on this machine (a torchrun job; see docs/scale.md)")
    parser.add_argument("--shard-size", type=int, default=256, metavar="N",
                        help="with --workers or under torchrun: images per shard file, the unit a killed run "
                             "resumes from (default 256)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-models", action="store_true", help="print the zoo model names and exit")
    parser.set_defaults(func=run)


def _check_existing(index_path: Path, model, rebuild: bool) -> None:
    """Refuse (before any work) to add vectors of ``model`` to an index made by another model."""
    from imret.apis.searcher import check_provenance
    from imret.index.gallery import GalleryIndex

    if rebuild or not index_path.exists():
        return
    index = GalleryIndex.open(index_path, mmap=True)
    check_provenance(index_path, index.provenance, model)


def _worker_args(args: argparse.Namespace) -> list[str]:
    """The command line each ``--workers`` process runs (this one without ``--workers``)."""
    argv = [args.gallery, "--out", args.out, "--batch-size", str(args.batch_size), "--shard-size",
            str(args.shard_size)]
    for flag, value in (("--model", args.model), ("--index-type", args.index_type)):
        if value is not None:
            argv += [flag, value]
    for flag, on in (("--rebuild", args.rebuild), ("--json", args.json), ("--no-progress", args.no_progress)):
        if on:
            argv.append(flag)
    return ["index", *argv]


def _on_rank_device(model, env):
    """The model on this rank's device (GPU ``LOCAL_RANK`` under nccl)."""
    if env is None:
        return model
    from imret.index.dist_run import torch_device

    return model.to(torch_device(env))


def _run_rank(args, env, gallery, index_path, encode, provenance, commit):
    """This rank's part of a distributed run: (report, totals) on rank 0, (None, None) elsewhere."""
    from imret.index.dist_run import default_staging_dir, distributed_index
    from imret.index.gallery import GalleryIndex
    from imret.index.storage import is_index_dir

    def stored():
        if args.rebuild or not is_index_dir(index_path):
            return {}
        index = GalleryIndex.open(index_path, mmap=True)
        return {m["id"]: (m.get("size"), m.get("mtime")) for m in index.get_metadata(index.ids)}

    return distributed_index(env, str(gallery), encode, provenance, stored, commit,
                             default_staging_dir(str(index_path)), shard_size=args.shard_size)


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
    if args.workers < 1 or args.shard_size < 1:
        return fail("index", f"--workers and --shard-size must be >= 1, got {args.workers} and {args.shard_size}")
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
        model = get_model(model_name)
        _check_existing(index_path, model, args.rebuild)
    except (SearchInputError, ProvenanceMismatchError, KeyError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))

    from imret.index.dist_run import dist_env, launch_workers

    env = dist_env()
    if env is None and args.workers > 1:
        return launch_workers(_worker_args(args), args.workers)
    encode = make_encoder(_on_rank_device(model, env), batch_size=args.batch_size)
    started = time.perf_counter()
    distributed = None

    def commit(encode_fn):
        return sync_folder(index_path, gallery, encode_fn, provenance=model.provenance, rebuild=args.rebuild,
                           index_type=args.index_type, batch_size=args.batch_size,
                           progress=not args.no_progress and (env is None or env.rank == 0))
    try:
        if env is None:
            report = commit(encode)
        else:
            report, distributed = _run_rank(args, env, gallery, index_path, encode, model.provenance, commit)
            if report is None:
                return EXIT_OK  # ranks other than 0: rank 0 commits and reports
    except (ProvenanceMismatchError, FileNotFoundError, ValueError) as error:
        return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    for path, reason in sorted(report.failed.items()):
        print(f"imret index: skipped unreadable image {path}: {reason}", file=sys.stderr)

    count = len(GalleryIndex.open(index_path, mmap=True))
    summary = {
        "index": str(index_path), "gallery": str(gallery), "model": model.zoo_name, "count": count,
        "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "failed": len(report.failed), "encoded": int(report.encoded),
        "seconds": round(seconds, 3),
        "images_per_second": round(report.encoded / seconds, 2) if report.encoded and seconds > 0 else None,
    }
    if distributed is not None:
        summary.update(workers=distributed.world_size, encoded=distributed.encoded, reused=distributed.reused,
                       images_per_second=round(distributed.encoded / seconds, 2)
                       if distributed.encoded and seconds > 0 else None)
    if args.json:
        print(json.dumps(summary))
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {gallery} -> {index_path}: {count} images with {model.zoo_name}; "
              f"encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
