"""``imret evaluate FOLDER``: leave-one-out retrieval quality of a model on a labelled folder."""
from __future__ import annotations

import argparse
import json
import sys

from .output import show_progress
from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate", help="measure retrieval quality on a labelled folder (leave-one-out)",
        description="Encode every image of FOLDER (one sub-folder per class) and let each image query all the "
                    "others; images of the same class are the relevant ones. Prints mAP and Recall@1/5/10 "
                    "in percent.")
    parser.add_argument("folder", metavar="FOLDER", help="folder with one sub-folder of images per class")
    parser.add_argument("--model", "-m", default=None,
                        help="zoo name, config file or fine-tuned model folder (default efficientnet-lite0_gem)")
    parser.add_argument("--rerank", action="append", metavar="NAME:k=v,...", default=None,
                        help="re-rank each query's shortlist, as in `imret search --rerank` (repeat to chain)")
    parser.add_argument("--shortlist", type=int, default=100, help="results re-ranked per query (default 100)")
    parser.add_argument("--dba", metavar="k=N[,alpha=A]", default=None,
                        help="augment the gallery side with DBA first, as `imret index --dba` would")
    parser.add_argument("--tta", metavar="flip,SIZE,...", default=None,
                        help="test-time augmentation, as `imret index --tta` (e.g. flip or flip,224,320)")
    parser.add_argument("--cache", metavar="FILE", default=None,
                        help="keep the vectors in FILE and reuse them while the model and files are unchanged")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate; 0 on success, 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from imret.apis.evaluate import encode_folder, leave_one_out, read_labelled_folder
    from imret.apis.zoo import DEFAULT_MODEL, get_model
    from imret.rerank import parse_dba, parse_reranks

    if args.batch_size < 1:
        return fail("evaluate", f"--batch-size must be >= 1, got {args.batch_size}")
    if args.shortlist < 1:
        return fail("evaluate", f"--shortlist must be >= 1, got {args.shortlist}")
    try:
        rerankers = parse_reranks(args.rerank)
        dba = parse_dba(args.dba) if args.dba is not None else None
        folder = read_labelled_folder(args.folder)
        from imret.apis.tta import parse_tta, with_tta

        model = with_tta(get_model(args.model or DEFAULT_MODEL), **parse_tta(args.tta))
    except (ValueError, TypeError, KeyError, FileNotFoundError) as error:
        return fail("evaluate", first_line(error))
    vectors, labels, failed = encode_folder(model, folder, args.batch_size, show_progress(args), args.cache)
    for path, reason in sorted(failed.items()):
        print(f"imret evaluate: skipped unreadable image {path}: {reason}", file=sys.stderr)
    try:
        quality = leave_one_out(vectors, labels, rerank=rerankers, shortlist=args.shortlist, dba=dba)
    except ValueError as error:
        return fail("evaluate", first_line(error))
    result = {"folder": args.folder, "model": getattr(model, "zoo_name", str(args.model)), "images": len(vectors),
              "classes": len(set(labels.tolist())), **quality.to_json()}
    if args.json:
        print(json.dumps(result))
    else:
        options = " + ".join(quality.options["rerank"] + ([f"dba:k={dba['k']},alpha={dba['alpha']}"] if dba else []))
        print(f"{result['folder']}: {result['images']} images, {result['classes']} classes, model {result['model']}"
              f"{', ' + options if options else ''}")
        print(f"  mAP {quality.mAP:.2f}  " + "  ".join(f"Recall@{k} {v:.2f}" for k, v in quality.recall.items())
              + (f"  ({quality.skipped} queries without another image of their class left out)"
                 if quality.skipped else ""))
    return EXIT_OK
