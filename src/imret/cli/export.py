"""``imret export MODEL --out DIR``: a deployment bundle (ONNX encoder, preprocessing, provenance)."""
from __future__ import annotations

import argparse

from .bad_input import EXIT_OK, fail, first_line, quiet_warnings


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export", help="export a model as a self-contained bundle (ONNX + preprocessing + provenance)",
        description="Write MODEL as a bundle folder: encoder.onnx (dynamic batch), preprocessing.json, "
                    "provenance.json and manifest.json (SHA-256 of each file). Plain files, no pickle. Pass the "
                    "folder as --model to index, search or serve; it runs with onnxruntime or openvino, "
                    "without torch.")
    parser.add_argument("model", metavar="MODEL", help="zoo model name or config file")
    parser.add_argument("--out", "-o", required=True, metavar="DIR", help="bundle folder to create (new or empty)")
    parser.add_argument("--checkpoint", default=None, metavar="CKPT",
                        help="weights for MODEL, e.g. a checkpoint written by imret train")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export; 0 on success, 1 on bad input (nothing is written then)."""
    with quiet_warnings():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from imret.apis import get_model
    from imret.apis.bundle_model import export_bundle

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        return fail("export", f"--out {out} already exists and is not an empty folder; choose a new folder")
    if Path(args.model).is_dir():
        return fail("export", f"{args.model} is a folder; export takes a zoo name or a config file")
    try:
        model = get_model(args.model, pretrained=args.checkpoint or True, runtime="torch", device="cpu")
        export_bundle(model, out)
    except (KeyError, FileNotFoundError, ValueError) as error:
        return fail("export", first_line(error))
    print(f"exported {model.name} -> {out} (encoder.onnx, preprocessing.json, provenance.json, manifest.json)")
    return EXIT_OK
