"""Exporting a retriever's encoder to ONNX (dynamic batch), cached on disk by what decides the graph."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

from imret.utils.atomic import atomic_output
from imret.utils.provenance import RECORD_ONLY_KEYS
from imret.utils.cache_dir import cache_root

#: Bumped when the exported graph's contract changes (inputs, outputs, exporter options).
EXPORT_FORMAT = 1
INPUT_NAME, OUTPUT_NAME = "images", "features"
#: Height and width of the example input when the preprocessing has no fixed crop size.
EXAMPLE_SIZE = 224
#: Provenance fields that do not change the graph.
_NOT_IN_KEY = RECORD_ONLY_KEYS
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where exported graphs are kept: ``$IMRET_CACHE_DIR/onnx`` (default ``~/.cache/imret/onnx``)."""
    return cache_root() / "onnx"


def _state_sha256(module: Any) -> str:
    import torch
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        array = tensor.detach().cpu().contiguous()
        digest.update(str(tuple(array.shape)).encode() + str(array.dtype).encode())
        digest.update(array.view(-1).view(dtype=torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _torch_version() -> str:
    from importlib.metadata import version
    return version("torch")  # without importing torch


def keyed_by_provenance(provenance: dict) -> bool:
    """Whether the cache key comes from the provenance alone: only when the weights are identified by
    their hash (random or downloaded-by-the-backbone weights are keyed by the module's tensors)."""
    return provenance.get("weights_sha256") is not None


def export_key(module: Any, provenance: dict, input_size: Optional[tuple[int, int]],
               by_provenance: Optional[bool] = None) -> str:
    """Cache key: the provenance (minus record-only fields), input size, export format and torch version,
    plus the module's actual tensors unless the provenance names the weights by hash (``module`` may
    then be None). ``by_provenance=False`` always adds the tensors (a module whose weights a caller
    may have changed)."""
    record = {
        "provenance": {k: v for k, v in provenance.items() if k not in _NOT_IN_KEY},
        "input_size": list(input_size) if input_size else None,
        "format": EXPORT_FORMAT,
        "torch": _torch_version(),
    }
    if not (keyed_by_provenance(provenance) and by_provenance is not False):
        if module is None:
            raise ValueError("a model whose weights have no hash needs its module to compute the ONNX cache key")
        record["tensors"] = _state_sha256(module)
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


def cached_onnx(module: Any, provenance: dict, input_size: Optional[tuple[int, int]],
                load_module: Optional[Callable[[], Any]] = None, by_provenance: Optional[bool] = None) -> Path:
    """The ONNX graph of a model from the cache, exported first when it is not there yet.

    ``module`` is the torch module, or None with ``load_module`` building it; it is only built when the
    key needs its tensors or the graph must be exported. ``by_provenance``: see ``export_key``.
    """
    if module is None and load_module is None:
        raise ValueError("cached_onnx needs the module or a way to load it")

    def the_module() -> Any:
        return module if module is not None else load_module()  # type: ignore[misc]

    tensors_needed = not (keyed_by_provenance(provenance) and by_provenance is not False)
    key = export_key(the_module() if tensors_needed else None, provenance, input_size, by_provenance)
    path = cache_dir() / f"encoder-{key}.onnx"
    if not path.is_file():
        log.info("exporting the encoder to ONNX (once; cached in %s)", path.parent)
        export_onnx(the_module(), path, input_size)
    return path
