"""``imret finetune FOLDER --out MODEL_DIR``: fine-tune a model on a labelled folder (ArcFace)."""
from __future__ import annotations

import argparse
import json
from typing import Optional

from .output import show_progress
from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` subcommand."""
    from imret.apis.finetune_options import FinetuneOptions

    defaults = FinetuneOptions()
    parser = subparsers.add_parser(
        "finetune", help="fine-tune a model on a labelled folder (ArcFace) and write a model folder",
        description="Train a zoo model with a new ArcFace head on FOLDER (one sub-folder per class), holding out "
                    "a share of the classes to measure mAP/Recall@1 before and after, and write MODEL_DIR "
                    "(config.py + weights.pth + preprocessing + provenance), usable as `imret index --model "
                    "MODEL_DIR`. Defaults suit a CPU and a few hundred images.")
    parser.add_argument("folder", metavar="FOLDER", help="folder with one sub-folder of images per class")
    parser.add_argument("--out", "-o", required=True, metavar="MODEL_DIR", help="new folder for the model")
    parser.add_argument("--model", "-m", default=None, help="model to start from (default efficientnet-lite0_gem)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"encoder learning rate (default {defaults.lr})")
    parser.add_argument("--head-lr-mult", type=float, default=defaults.head_lr_mult,
                        help=f"learning rate multiplier of the new ArcFace head and of --head-lr-layers "
                             f"(default {defaults.head_lr_mult})")
    parser.add_argument("--head-lr-layers", default=None, metavar="NAME,...",
                        help="encoder modules (last part of the name, comma-separated) also trained at the head's "
                             "rate (default: the final 1x1 projection, conv_head, where the encoder has one; "
                             "'none': the new head only)")
    parser.add_argument("--train-size", type=int, default=defaults.train_size,
                        help=f"training crop size in pixels (default {defaults.train_size}; search uses the model's own)")
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help=f"share of classes held out for validation (default {defaults.val_fraction}; 0: none)")
    parser.add_argument("--max-images-per-class", type=int, default=None, help="train on at most N images per class")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"default {defaults.seed}")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fine-tune; 0 on success, 1 on bad input."""
    with quiet_warnings():
        return _run(args)


def _layer_names(text: Optional[str]) -> Optional[tuple[str, ...]]:
    """``--head-lr-layers``: None (default), () for 'none', else the comma-separated names."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    return tuple(part.strip() for part in text.split(","))


def _run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from imret.apis.finetune import finetune
    from imret.apis.finetune_options import FinetuneOptions
    from imret.apis.zoo import DEFAULT_MODEL

    options = FinetuneOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                              head_lr_mult=args.head_lr_mult, train_size=args.train_size,
                              head_lr_layers=_layer_names(args.head_lr_layers),
                              val_fraction=args.val_fraction, seed=args.seed,
                              max_images_per_class=args.max_images_per_class)
    try:
        options.check()
        report = finetune(args.folder, args.out, args.model or DEFAULT_MODEL, options,
                          progress=show_progress(args))
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as error:
        return fail("finetune", first_line(error))
    if args.json:
        print(json.dumps({key: value for key, value in asdict(report).items() if key != "losses"}))
        return EXIT_OK
    print(f"fine-tuned on {report.train_images} images of {len(report.train_classes)} classes -> {report.out}")
    if report.before and report.after:
        print(f"held-out classes ({len(report.val_classes)}): mAP {report.before['mAP']:.2f} -> "
              f"{report.after['mAP']:.2f}, Recall@1 {report.before['Recall@1']:.2f} -> {report.after['Recall@1']:.2f}")
    print(f"use it: imret index GALLERY --out INDEX --model {report.out}")
    return EXIT_OK
