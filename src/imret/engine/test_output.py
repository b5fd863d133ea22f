"""What ``imret test --out FILE`` writes: the metrics or every query's prediction, as JSON or YAML.

mmpretrain also writes pickle files here; imret never does (a pickle runs code when it is loaded).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional, Sequence

from mmengine.evaluator import BaseMetric

from imret.utils.atomic import atomic_output
from imret.utils.json_output import dump_json

OUT_ITEMS = ("metrics", "pred")
OUT_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pck")


class OutputFileError(ValueError):
    """``--out`` names a file imret will not write; the message says why and what to use."""


def output_format(path: str | os.PathLike) -> str:
    """``'json'`` or ``'yaml'`` for ``path`` by its extension; pickle and others are refused."""
    suffix = Path(path).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise OutputFileError(f"--out {path}: imret does not write pickle files (loading a pickle can run "
                              "arbitrary code); use a .json or .yaml file name")
    if suffix not in OUT_FORMATS:
        raise OutputFileError(f"--out {path}: unknown extension {suffix or '(none)'}; use .json or .yaml")
    return OUT_FORMATS[suffix]


def plain(value: Any) -> Any:
    """``value`` as JSON/YAML-safe Python data: tensors and arrays as lists, NaN/inf as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    return str(value)


def write_output(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` (made plain) to ``path`` as JSON or YAML by its extension, atomically."""
    kind = output_format(path)
    data = plain(data)
    with atomic_output(path) as temp:
        with open(temp, "w", encoding="utf-8") as handle:
            if kind == "json":
                handle.write(dump_json(data, indent=2) + "\n")
            else:
                import yaml

                yaml.safe_dump(data, handle, sort_keys=False)
    return Path(path)


def prediction_record(sample: Any) -> dict:
    """One query's prediction: its identity, ground truth and ranked prototype indices with scores.

    ``pred_label``: prototype indices, best first (cut to the model's ``topk``); ``pred_score``: the
    similarity to every prototype, in prototype order (mmpretrain's meaning).
    """
    # the evaluator hands metrics plain dicts (metainfo and data fields together); a DataSample also works
    meta = sample if isinstance(sample, dict) else dict(getattr(sample, "metainfo", {}) or {})
    record = {key: plain(meta[key]) for key in ("sample_idx", "img_path") if key in meta}
    for key in ("gt_label", "pred_label", "pred_score"):
        value = sample.get(key, None)
        if value is not None:
            record[key] = plain(value)
    return record


class PredictionDump(BaseMetric):
    """A metric that computes nothing and writes every query's :func:`prediction_record` to a file."""

    default_prefix = "dump"

    def __init__(self, out_file: str | os.PathLike, collect_device: str = "cpu",
                 prefix: Optional[str] = None) -> None:
        output_format(out_file)
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_file = Path(out_file)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            self.results.append(prediction_record(sample))

    def compute_metrics(self, results: list) -> dict:
        write_output(self.out_file, results)
        return {}
