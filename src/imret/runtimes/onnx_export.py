"""Exporting a retriever's encoder to ONNX (dynamic batch), cached on disk by what decides the graph."""
from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Optional

from imret.utils.atomic import atomic_output

#: Bumped when the exported graph's contract changes (inputs, outputs, exporter options).
EXPORT_FORMAT = 1
INPUT_NAME, OUTPUT_NAME = "images", "features"
#: Height and width of the example input when the preprocessing has no fixed crop size.
EXAMPLE_SIZE = 224
#: Provenance fields that do not change the graph.
_NOT_IN_KEY = ("imret_version",)


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$IMRET_CACHE_DIR/onnx`` (default ``~/.cache/imret/onnx``)."""
    root = os.environ.get("IMRET_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "imret")
    return Path(root) / "onnx"


def _state_sha256(module: Any) -> str:
    import torch
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        array = tensor.detach().cpu().contiguous()
        digest.update(str(tuple(array.shape)).encode() + str(array.dtype).encode())
        digest.update(array.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def export_key(module: Any, provenance: dict, input_size: Optional[tuple[int, int]]) -> str:
    """Cache key: the provenance (minus record-only fields), the module's actual tensors, input size,
    export format and torch version."""
    import torch
    record = {
        "provenance": {k: v for k, v in provenance.items() if k not in _NOT_IN_KEY},
        "tensors": _state_sha256(module),
        "input_size": list(input_size) if input_size else None,
        "format": EXPORT_FORMAT,
        "torch": torch.__version__,
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def export_onnx(module: Any, path: os.PathLike | str, input_size: Optional[tuple[int, int]]) -> None:
    """Write ``module``'s feature graph (``images`` (N, 3, H, W) -> ``features`` (N, C)) to ``path``.

    The batch axis is dynamic; height and width too when ``input_size`` is None. Written atomically.
    """
    import torch
    from torch import nn

    from .torch_runtime import final_features

    class FeatureGraph(nn.Module):
        def __init__(self, retriever: nn.Module):
            super().__init__()
            self.retriever = retriever

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return final_features(self.retriever, images).float()

    device = next(iter(module.parameters()), torch.zeros(0)).device
    graph = FeatureGraph(module.eval().cpu()).eval()
    height, width = input_size or (EXAMPLE_SIZE, EXAMPLE_SIZE)
    example = torch.zeros(2, 3, height, width)
    dims = {0: torch.export.Dim("batch", min=1, max=65536)}
    if input_size is None:
        dims.update({2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO})
    try:
        with atomic_output(path) as temp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (example,), temp, dynamo=True, external_data=False, verbose=False,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_shapes={"images": dims})
    finally:
        module.to(device)


def cached_onnx(module: Any, provenance: dict, input_size: Optional[tuple[int, int]]) -> Path:
    """The ONNX graph of ``module`` from the cache, exported first when it is not there yet."""
    path = cache_dir() / f"encoder-{export_key(module, provenance, input_size)}.onnx"
    if not path.is_file():
        print(f"imret: exporting the encoder to ONNX (once; cached in {path.parent})", file=sys.stderr)
        export_onnx(module, path, input_size)
    return path
