"""Extracting prototype vectors from a dataloader, once per sample, across processes.

Row ``i`` of the vectors is the loader's dataset item ``i`` (its position). The position is taken from
the loader's own index stream, so concatenated datasets (whose items repeat ``sample_idx``), subsets
and shuffling samplers all place rows correctly. Loaders without a batch sampler (iterable datasets)
fall back to each sample's ``sample_idx``.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from mmengine import dist
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm import tqdm


class _WithPosition(Dataset):
    """``dataset[i]`` paired with ``i``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return int(index), self.dataset[index]


class _CollateWithPosition:
    """The loader's collate function applied to the items; their positions kept beside."""

    def __init__(self, collate: Callable[[list], Any]) -> None:
        self.collate = collate

    def __call__(self, batch: list[tuple[int, Any]]) -> tuple[list[int], Any]:
        return [position for position, _ in batch], self.collate([item for _, item in batch])


def batches_with_positions(loader: DataLoader) -> Iterator[tuple[Optional[list[int]], Any]]:
    """``(positions, batch)`` from a loader like ``loader`` (same sampler, workers and collate)."""
    if isinstance(loader.dataset, IterableDataset) or loader.batch_sampler is None:
        for batch in loader:
            yield None, batch
        return
    tagged = DataLoader(
        _WithPosition(loader.dataset), batch_sampler=loader.batch_sampler, num_workers=loader.num_workers,
        collate_fn=_CollateWithPosition(loader.collate_fn), pin_memory=loader.pin_memory,
        timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context if loader.num_workers else None,
        generator=loader.generator, prefetch_factor=loader.prefetch_factor if loader.num_workers else None)
    yield from tagged


def _sample_indices(data_samples: Sequence, running_start: int, batch_size: int) -> list[int]:
    indices = []
    for offset, sample in enumerate(data_samples or []):
        index = sample.metainfo.get("sample_idx") if hasattr(sample, "metainfo") else None
        if index is None:
            if dist.get_world_size() > 1:
                raise ValueError("prototype samples carry no 'sample_idx' in their metainfo; with several "
                                 "processes the vectors cannot be placed. Use a dataset that sets sample_idx "
                                 "(imret datasets do) or one process")
            index = running_start + offset
        indices.append(int(index))
    if not indices:
        indices = list(range(running_start, running_start + batch_size))
    return indices


@torch.no_grad()
def extract_prototype_vectors(loader: DataLoader, preprocess: Callable[[dict], dict],
                              encode: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                              progress: bool = True) -> torch.Tensor:
    """Encode every sample of ``loader`` into its row (its position in the dataset) of an (M, C) matrix.

    Under torch.distributed each rank encodes its share; rows seen by several ranks (samplers pad
    with duplicates) are averaged, not summed, so every sample counts once and all ranks end equal.
    """
    total = len(loader.dataset)
    vectors = None
    counts = torch.zeros(total, device=device)
    seen = 0
    show = progress and dist.is_main_process() and sys.stderr.isatty()
    for positions, batch in tqdm(batches_with_positions(loader), desc="prototype", unit="batch",
                                 total=len(loader.batch_sampler or ()) or None, disable=not show,
                                 leave=False):
        data = preprocess(batch)
        feats = encode(data["inputs"])
        indices = positions if positions is not None else _sample_indices(data.get("data_samples"), seen,
                                                                          feats.shape[0])
        seen += feats.shape[0]
        if vectors is None:
            vectors = torch.zeros(total, feats.shape[1], device=device)
        index = torch.tensor(indices, device=device)
        vectors[index] = feats.to(device=device, dtype=torch.float32)
        counts[index] = 1.0
    if vectors is None:
        raise ValueError("the prototype dataloader yielded no samples; check that its dataset is not empty")
    if dist.get_world_size() > 1:
        vectors = vectors * counts.unsqueeze(1)
        dist.all_reduce(vectors)
        dist.all_reduce(counts)
        vectors = vectors / counts.clamp_min(1).unsqueeze(1)
    missing = int((counts == 0).sum())
    if missing:
        raise ValueError(f"{missing} of {total} prototype samples were never produced by the dataloader; "
                         "its sampler must cover the whole dataset (use shuffle=False, drop_last=False)")
    return vectors
