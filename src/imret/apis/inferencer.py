"""``ImageRetrievalInferencer``: find the gallery (prototype) images closest to query images."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from imret.io import display_name
from imret.matching import pairwise_similarity, rank

from .files import files_fingerprint, list_image_files
from .match_grid import grid_file_name, write_match_grid
from .pipeline import ImageInput
from .prototype_cache import read_prototype_cache, write_prototype_cache
from .retrieval_model import RetrievalModel
from .zoo import get_model

PrototypeInput = Union[str, os.PathLike, Sequence[str], dict, Dataset, DataLoader]
PROTOTYPE_KINDS = "a folder, a list of image paths, a dataset config dict, a Dataset or a DataLoader"


def _say(message: str) -> None:
    print(f"imret: {message}", file=sys.stderr)


def _dataset_samples(dataset: Any) -> Optional[list[dict]]:
    """Per-sample ``img_path`` (and ``gt_label``) of an mmengine-style dataset, or None if it has none."""
    if not hasattr(dataset, "get_data_info"):
        return None
    samples = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if "img_path" not in info:
            return None
        sample = {"img_path": str(info["img_path"]), "sample_idx": index}
        if info.get("gt_label") is not None:
            label = info["gt_label"]
            sample["gt_label"] = int(label) if np.ndim(label) == 0 else np.asarray(label).tolist()
        samples.append(sample)
    return samples


def _sample_meta(data_sample: Any, fallback_idx: int) -> dict:
    meta = dict(getattr(data_sample, "metainfo", {}) or {})
    sample = {"sample_idx": int(meta.get("sample_idx", fallback_idx))}
    if "img_path" in meta:
        sample["img_path"] = str(meta["img_path"])
    return sample


class ImageRetrievalInferencer:
    """Retrieve the closest prototype (gallery) images for query images (mmpretrain-compatible).

    Args:
        model: a model from ``get_model``, a zoo name, a config file path or an export bundle folder.
        prototype: the gallery: a folder, a list of image paths, a dataset config dict, a Dataset
            or a DataLoader. Folders, path lists and datasets are encoded with the model's own
            test pipeline; a DataLoader is used with its own.
        prototype_cache: file where the prototype vectors are kept between runs. It is reused only
            when it was made by the same model (provenance) from the same files; otherwise it is
            rebuilt and a message says why.
        prepare_batch_size: batch size while encoding the prototype.
        pretrained: passed to ``get_model`` when ``model`` is a name or a config path.
        device: where the model runs (when ``model`` is built here).
        runtime: encoder runtime (when ``model`` is built here): 'auto', 'torch', 'onnxruntime', 'openvino'.
    """

    def __init__(self, model: Union[RetrievalModel, str, os.PathLike], prototype: PrototypeInput,
                 prototype_cache: Optional[Union[str, os.PathLike]] = None, prepare_batch_size: int = 8,
                 pretrained: Union[bool, str] = True, device: Optional[Union[str, torch.device]] = None,
                 *, runtime: str = "auto"):
        if isinstance(model, (str, os.PathLike)):
            model = get_model(model, pretrained=pretrained, device=device, runtime=runtime)
        elif not isinstance(model, RetrievalModel):
            raise TypeError("model must be a RetrievalModel from imret.apis.get_model, a zoo name, a config file "
                            f"path or an export bundle folder; got {type(model).__name__}")
        self.model = model
        self.prepare_batch_size = prepare_batch_size
        self.prototype_vecs, self.prototype_samples = self._prepare_prototype(prototype, prototype_cache)

    # ----- prototype -----
    def _prototype_samples(self, prototype: PrototypeInput) -> Optional[list[dict]]:
        """Image paths of the prototype, or None when it is a loader to be run as it is."""
        if isinstance(prototype, (str, os.PathLike)):
            if not Path(prototype).is_dir():
                raise FileNotFoundError(f"prototype folder {prototype} does not exist")
            paths = list_image_files(prototype, on_skip=lambda path, reason: _say(
                f"skipped prototype file {display_name(path)}: {reason}"))
            return [{"img_path": path, "sample_idx": index} for index, path in enumerate(paths)]
        if isinstance(prototype, DataLoader):
            return _dataset_samples(prototype.dataset)
        if isinstance(prototype, dict):
            from mmengine.registry import DefaultScope
            from imret.registry import DATASETS
            import imret.datasets.registration  # noqa: F401  (registers dataset type names)
            config = copy.deepcopy(prototype)
            config = config.get("dataset", config) if "type" not in config else config
            config["pipeline"] = []
            with DefaultScope.overwrite_default_scope("imret"):
                dataset = DATASETS.build(config)
            samples = _dataset_samples(dataset)
            if samples is None:
                raise ValueError(f"the prototype dataset {config.get('type')} does not give image paths")
            return samples
        if isinstance(prototype, Dataset):
            return _dataset_samples(prototype)
        if isinstance(prototype, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in prototype):
            return [{"img_path": os.fspath(path), "sample_idx": index} for index, path in enumerate(prototype)]
        raise TypeError(f"prototype must be {PROTOTYPE_KINDS}; got {type(prototype).__name__}")

    def _prepare_prototype(self, prototype: PrototypeInput, cache: Optional[Union[str, os.PathLike]]
                           ) -> tuple[torch.Tensor, list[dict]]:
        samples = self._prototype_samples(prototype)
        fingerprint = files_fingerprint([s["img_path"] for s in samples]) if samples is not None else None
        provenance = self.model.provenance
        if cache is not None and fingerprint is not None:
            vectors, cached, why = read_prototype_cache(cache, provenance, fingerprint)
            if vectors is not None:
                return vectors, cached
            _say(why)
        elif cache is not None:
            _say(f"the prototype gives no image paths to check, so the cache {cache} is not used")
        if samples is None:
            loader = prototype if isinstance(prototype, DataLoader) else DataLoader(
                prototype, batch_size=self.prepare_batch_size, collate_fn=_pseudo_collate())
            vectors, samples = self._encode_loader(loader)
        else:
            result = self.model.encode_images([s["img_path"] for s in samples], self.prepare_batch_size,
                                              progress=True, desc="prototype")
            for path, reason in result.failed.items():
                _say(f"skipped unreadable prototype image {display_name(path)}: {reason}")
            samples = [samples[i] for i in result.ok]
            vectors = torch.from_numpy(result.vectors)
        if not samples:
            raise ValueError("the prototype has no readable images")
        if cache is not None and fingerprint is not None:
            write_prototype_cache(cache, vectors, samples, provenance, fingerprint)
        return vectors, samples

    def _encode_loader(self, loader: DataLoader) -> tuple[torch.Tensor, list[dict]]:
        """Vectors of a loader's packed batches (CHW images as loaded), normalized as the model says.

        Row ``i`` is the loader's dataset item ``i`` (its position), so concatenated datasets, whose items
        repeat ``sample_idx``, and subsets are placed right; loaders without positions use ``sample_idx``.
        """
        from imret.models.retrievers.prototype_extraction import batches_with_positions

        chunks, samples, positions = [], [], []
        for where, batch in batches_with_positions(loader):
            images = [np.asarray(image).transpose(1, 2, 0) for image in batch["inputs"]]
            chunks.append(torch.from_numpy(self.model.encode_arrays(images)))
            data_samples = batch.get("data_samples") or [None] * len(images)
            new = [_sample_meta(s, len(samples) + i) for i, s in enumerate(data_samples)]
            samples.extend(new)
            positions.extend(where if where is not None else [meta["sample_idx"] for meta in new])
        order = sorted(range(len(samples)), key=lambda i: positions[i])
        vectors = torch.cat(chunks)[order] if chunks else torch.zeros(0, 0)
        return vectors, [dict(samples[i], sample_idx=positions[i]) for i in order]

    # ----- queries -----
    def __call__(self, inputs: Union[ImageInput, Sequence[ImageInput]], topk: int = 1,
                 show_dir: Optional[Union[str, os.PathLike]] = None, batch_size: int = 1,
                 return_datasamples: bool = False) -> list:
        """Matches of each query, best first: ``{'match_score', 'sample_idx', 'sample': {'img_path', ...}}``.

        ``return_datasamples=True`` returns one ``DataSample`` per query instead (mmpretrain's meaning):
        ``pred_score`` = similarity to every prototype in prototype order, ``pred_label`` = the ``topk``
        best prototype indices, best first.

        ``inputs`` is an image path, a BGR (H, W, 3) uint8 array (OpenCV / mmcv convention), or a list
        of them. ``show_dir`` receives one PNG grid per query. A query that cannot be read raises
        ``ValueError`` naming it.
        """
        queries = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if not queries:
            return []
        features = torch.from_numpy(self.model.encode_queries(queries, max(1, batch_size)))
        scores, indices = rank(features, self.prototype_vecs, min(topk, len(self.prototype_samples)),
                               self.model.similarity_fn)
        results = []
        for row_scores, row_indices in zip(scores.tolist(), indices.tolist()):
            results.append([{"match_score": score, "sample_idx": self.prototype_samples[i]["sample_idx"],
                             "sample": dict(self.prototype_samples[i])}
                            for score, i in zip(row_scores, row_indices)])
        if show_dir is not None:
            self.visualize(queries, results, show_dir)
        if return_datasamples:
            return _data_samples(queries, pairwise_similarity(features, self.prototype_vecs,
                                                              self.model.similarity_fn), indices)
        return results

    def visualize(self, queries: Sequence[ImageInput], results: list[list[dict]],
                  show_dir: Union[str, os.PathLike]) -> list[Path]:
        """Write one match grid per query into ``show_dir``; returns the file paths."""
        written = []
        for position, (query, matches) in enumerate(zip(queries, results)):
            cells = [(m["sample"].get("img_path", ""), m["match_score"],
                      Path(m["sample"].get("img_path", f"#{m['sample_idx']}")).name) for m in matches]
            written.append(write_match_grid(Path(show_dir) / grid_file_name(query, position), query, cells))
        return written


def _data_samples(queries: Sequence[ImageInput], scores: torch.Tensor, ranked: torch.Tensor) -> list:
    from imret.structures import DataSample

    samples = []
    for query, row_scores, row_ranked in zip(queries, scores, ranked):
        meta = {"img_path": os.fspath(query)} if isinstance(query, (str, os.PathLike)) else {}
        samples.append(DataSample(metainfo=meta).set_pred_score(row_scores).set_pred_label(row_ranked))
    return samples


def _pseudo_collate():
    from mmengine.dataset import pseudo_collate
    return pseudo_collate
