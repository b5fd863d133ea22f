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
                        help="index to create or update: a directory (an existing empty one is fine), "
                             "milvus-lite:PATH.db[#COLLECTION] or milvus://HOST:PORT/COLLECTION (docs/scale.md)")
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


def _run_rank(args, env, model, commit):
    """This rank's part of a torchrun job: (report, totals) on rank 0, (None, None) elsewhere."""
    from imret.apis import make_encoder
    from imret.index import open_index
    from imret.index.dist_run import default_staging_dir, direct_writer, distributed_index, torch_device

    def stored():
        if args.rebuild:
            return {}
        try:
            with open_index(args.out) as index:
                return {item_id: (print_.size, print_.mtime) for item_id, print_ in index.iter_fingerprints()}
        except FileNotFoundError:
            return {}

    encode = make_encoder(model.to(torch_device(env)), batch_size=args.batch_size)
    return distributed_index(env, args.gallery, encode, model.provenance, stored, commit,
                             default_staging_dir(args.out), shard_size=args.shard_size,
                             writer=direct_writer(args.out, model.provenance, args.index_type), rebuild=args.rebuild)


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
    from imret.index import resolve_backend, scheme_of

    from imret.index.redact import redact_credentials

    gallery, index_uri = Path(args.gallery), args.out
    shown = redact_credentials(index_uri)  # never print credentials
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
            check_provenance(shown, stored, model)
    except (SearchInputError, ProvenanceMismatchError, KeyError, OSError, ValueError) as error:
        return fail("index", first_line(error))

    from imret.index.dist_run import dist_env, launch_workers

    env = dist_env()
    if env is None and args.workers > 1:
        return launch_workers(_worker_args(args), args.workers)
    started = time.perf_counter()
    distributed = None

    def commit(encode_fn, rebuild=args.rebuild):
        return sync_folder(index_uri, gallery, encode_fn, provenance=model.provenance, rebuild=rebuild,
                           index_type=args.index_type, batch_size=args.batch_size,
                           progress=not args.no_progress and (env is None or env.rank == 0))
    try:
        if env is None:
            report = commit(make_encoder(model, batch_size=args.batch_size))
        else:
            report, distributed = _run_rank(args, env, model, commit)
            if report is None:
                return EXIT_OK  # ranks other than 0: rank 0 commits and reports
    except (ProvenanceMismatchError, OSError, ValueError) as error:
        return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    from imret.index.names import display_name, name_fields
    from imret.utils.json_output import dump_json

    for path, reason in sorted(report.failed.items()):
        print(f"imret index: skipped unreadable image {display_name(path)}: {display_name(reason)}", file=sys.stderr)

    count = report.count
    summary = {
        **name_fields("index", shown), **name_fields("gallery", str(gallery)), "model": model.zoo_name,
        "count": count,
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
        print(dump_json(summary))
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {display_name(str(gallery))} -> {display_name(shown)}: {count} images with "
              f"{model.zoo_name}; "
              f"encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
