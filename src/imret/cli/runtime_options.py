"""``--runtime``, ``--device`` and ``--checkpoint``: how a command builds its encoder (shared by subcommands)."""
from __future__ import annotations

import argparse

RUNTIME_NAMES = ("auto", "torch", "onnxruntime", "openvino")


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the encoder options to a subcommand's parser (validated when the model is built)."""
    parser.add_argument("--runtime", default="auto", metavar="NAME",
                        help=f"encoder runtime: {', '.join(RUNTIME_NAMES)} (default auto: the fastest "
                             "installed one for the device)")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="cpu, cuda, cuda:N, ... (default: cuda when available, else cpu)")
    parser.add_argument("--checkpoint", default=None, metavar="CKPT",
                        help="weights for --model, e.g. a checkpoint written by imret train (read weights-only)")
