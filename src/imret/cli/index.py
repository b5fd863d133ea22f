"""``imret index GALLERY --out INDEX``: encode a folder of images into a gallery index (incremental)."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from types import SimpleNamespace

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
    parser.add_argument("gallery", metavar="GALLERY", nargs="?", help="folder of images (searched recursively)")
    parser.add_argument("--out", "-o", metavar="INDEX",
                        help="index to create or update (required): a directory (an existing empty one is fine), "
                             "milvus-lite:PATH.db[#COLLECTION] or milvus://HOST:PORT/COLLECTION (docs/scale.md)")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo model name or config file (default: the index's model, or "
                             "efficientnet-lite0_gem for a new index), or a bundle folder from `imret export`; "
                             "see `imret models`")
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
    parser.add_argument("--workers", type=int, default=1, metavar="P",
                        help="encode with P processes on this machine (a torchrun job; see docs/scale.md)")
    parser.add_argument("--shard-size", type=int, default=256, metavar="N",
                        help="with --workers or under torchrun: images per shard file, the unit a killed run "
                             "resumes from (default 256)")
    parser.add_argument("--json", action="store_true", help="print the summary (or --list-models) as JSON on stdout")
    parser.add_argument("--list-models", action="store_true",
                        help="print the zoo models (as `imret models`) and exit; GALLERY and --out are not needed")
    add_runtime_arguments(parser)
    parser.set_defaults(func=run, usage_error=parser.error)


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
    for flag, value in (("--model", args.model), ("--index-type", args.index_type), ("--checkpoint", args.checkpoint),
                        ("--tta", args.tta), ("--dba", args.dba),
                        ("--runtime", args.runtime), ("--device", args.device)):
        if value is not None:
            argv += [flag, str(value)]
    for flag, on in (("--rebuild", args.rebuild), ("--json", args.json), ("--no-progress", args.no_progress),
                     ("--progress", args.progress), ("--quiet", args.quiet)):
        if on:
            argv.append(flag)
    return ["index", *argv]


def _run_rank(args, env, encode, provenance, commit):
    """This rank's part of a torchrun job: (report, totals) on rank 0, (None, None) elsewhere."""
    from imret.index import open_index
    from imret.index.dist_run import default_staging_dir, direct_writer, distributed_index

    def stored():
        if args.rebuild:
            return {}
        try:
            with open_index(args.out) as index:
                return {item_id: (print_.size, print_.mtime) for item_id, print_ in index.iter_fingerprints()}
        except FileNotFoundError:
            return {}

    return distributed_index(env, args.gallery, encode, provenance, stored, commit,
                             default_staging_dir(args.out), shard_size=args.shard_size,
                             writer=direct_writer(args.out, provenance, args.index_type), rebuild=args.rebuild)


def run(args: argparse.Namespace) -> int:
    """Index the folder; 0 on success (even with skipped images), 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if args.list_models:
        from .models import print_models

        return print_models(args.json)
    missing = [name for name, value in (("GALLERY", args.gallery), ("--out", args.out)) if value is None]
    if missing:
        args.usage_error(f"the following arguments are required: {', '.join(missing)}")
    if args.batch_size < 1:
        return fail("index", f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers < 1 or args.shard_size < 1:
        return fail("index", f"--workers and --shard-size must be >= 1, got {args.workers} and {args.shard_size}")

    from imret.apis import list_image_files
    from imret.apis.model_provenance import model_provenance
    from imret.apis.searcher import SearchInputError, model_name_of
    from imret.apis.zoo import DEFAULT_MODEL
    from imret.index import resolve_backend, scheme_of
    from imret.index.redact import redact_credentials

    from .lazy_encoder import LazyEncoder
    from .output import log, print_json, show_progress

    gallery, index_uri = Path(args.gallery), args.out
    shown = redact_credentials(index_uri)  # never print credentials
    index_path = Path(index_uri) if scheme_of(index_uri) == "local" else None
    if not gallery.is_dir():
        return fail("index", f"gallery folder {gallery} does not exist or is not a folder")
    if not list_image_files(gallery, on_skip=lambda path, reason: None):  # sync_folder reports skipped files
        return fail("index", f"gallery folder {gallery} contains no images (looked for .jpg, .png, ... files)")
    if index_path is not None and index_path.exists() and not index_path.is_dir():
        return fail("index", f"--out {index_path} exists and is not an index directory")

    from imret.apis.searcher import check_provenance
    from imret.index.errors import EncoderUnavailableError, ProvenanceMismatchError
    from imret.index.sync import sync_folder
    from imret.runtimes import RuntimeSelectionError, check_device, list_runtimes

    from imret.apis.tta import parse_tta, tta_of, tta_provenance
    from imret.rerank.dba import DBA_PROVENANCE_KEY, apply_dba_to_index, parse_dba

    try:
        dba = parse_dba(args.dba) if args.dba is not None else None
        if dba is not None and index_path is None:
            raise ValueError("--dba needs a local index directory (it rewrites the stored vectors)")
        resolve_backend(index_uri).check_target(index_uri, overwrite=True)
        stored = None if args.rebuild else _stored_provenance(index_uri)
        if stored is not None and DBA_PROVENANCE_KEY in stored:
            raise ValueError(f"the index {shown} holds DBA-augmented vectors ({stored[DBA_PROVENANCE_KEY]}), which "
                             "cannot be updated incrementally; add --rebuild (with --dba to augment again)")
        tta = parse_tta(args.tta) if args.tta is not None else (tta_of(stored) if stored else parse_tta(None))
        model_name = args.model or (model_name_of(stored) if stored is not None else DEFAULT_MODEL)
        # Bad names fail here; the model itself (and its runtime) is built only when some image needs encoding.
        check_device(args.device)
        if str(args.runtime).strip().lower() not in list_runtimes():
            raise RuntimeSelectionError(f"unknown runtime {args.runtime!r}; use one of {', '.join(list_runtimes())}")
        provenance = tta_provenance(model_provenance(model_name, pretrained=args.checkpoint or True),
                                    **tta)
        if stored is not None:
            # check_provenance reads only the model's name and provenance, both known without building it
            check_provenance(shown, stored, SimpleNamespace(name=provenance.get("model", model_name),
                                                            provenance=provenance))
    except (SearchInputError, ProvenanceMismatchError, KeyError, OSError, ValueError) as error:
        return fail("index", first_line(error))

    from imret.index.dist_run import dist_env, launch_workers, torch_device

    env = dist_env()
    if env is None and args.workers > 1:
        return launch_workers(_worker_args(args), args.workers)
    encode = LazyEncoder(model_name, provenance, batch_size=args.batch_size, tta=tta, pretrained=args.checkpoint or True,
                         runtime=args.runtime, device=torch_device(env) if env is not None else args.device)
    started = time.perf_counter()
    distributed = None

    def commit(encode_fn, rebuild=args.rebuild):
        return sync_folder(index_uri, gallery, encode_fn, provenance=provenance, rebuild=rebuild,
                           index_type=args.index_type, batch_size=args.batch_size,
                           progress=show_progress(args) and (env is None or env.rank == 0))
    try:
        if env is None:
            report = commit(encode)
        else:
            report, distributed = _run_rank(args, env, encode, provenance, commit)
            if report is None:
                return EXIT_OK  # ranks other than 0: rank 0 commits and reports
    except (ProvenanceMismatchError, EncoderUnavailableError, OSError, ValueError) as error:
        return fail("index", first_line(error))
    if dba is not None:
        from imret.index.gallery import GalleryIndex

        try:
            apply_dba_to_index(GalleryIndex.open(index_uri, mmap=False), dba["k"], dba["alpha"])
        except ValueError as error:
            return fail("index", first_line(error))
    seconds = time.perf_counter() - started
    from imret.index.names import display_name, name_fields

    for path, reason in sorted(report.failed.items()):
        log.warning("skipped unreadable image %s: %s", display_name(path), display_name(reason))

    count = report.count
    model = encode.model
    summary = {
        **name_fields("index", shown),
        **(name_fields("index_abs", os.path.abspath(index_uri)) if index_path is not None else {}),
        **name_fields("gallery", str(gallery)), **name_fields("gallery_abs", os.path.abspath(gallery)),
        "model": provenance.get("model", model_name),
        "runtime": model.runtime_name if model is not None else None,
        "device": model.device if model is not None else None, "model_loaded": model is not None,
        "count": count, "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "failed": len(report.failed), "encoded": int(report.encoded),
        "seconds": round(seconds, 3),
        "images_per_second": round(report.encoded / seconds, 2) if report.encoded and seconds > 0 else None,
        "dba": dba,
    }
    if distributed is not None:
        summary.update(workers=distributed.world_size, encoded=distributed.encoded, reused=distributed.reused,
                       images_per_second=round(distributed.encoded / seconds, 2)
                       if distributed.encoded and seconds > 0 else None)
    if args.json:
        print_json(summary)
    else:
        rate = f" ({summary['images_per_second']} images/s)" if summary["images_per_second"] else ""
        print(f"indexed {display_name(str(gallery))} -> {display_name(shown)}: {count} images with "
              f"{summary['model']}; encoded {summary['encoded']} in {seconds:.1f} s{rate}; added {summary['added']}, "
              f"updated {summary['updated']}, removed {summary['removed']}, unchanged {summary['unchanged']}, "
              f"failed {summary['failed']}")
    return EXIT_OK
