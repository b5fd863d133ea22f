"""Extracting prototype vectors from a dataloader, once per sample, across processes."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from mmengine import dist
from torch.utils.data import DataLoader
from tqdm import tqdm


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
    """Encode every sample of ``loader`` into row ``sample_idx`` of an (M, C) matrix.

    Under torch.distributed each rank encodes its share; rows seen by several ranks (samplers pad
    with duplicates) are averaged, not summed, so every sample counts once and all ranks end equal.
    """
    total = len(loader.dataset)
    vectors = None
    counts = torch.zeros(total, device=device)
    seen = 0
    show = progress and dist.is_main_process()
    for batch in tqdm(loader, desc="prototype", unit="batch", disable=not show, leave=False):
        data = preprocess(batch)
        feats = encode(data["inputs"])
        indices = _sample_indices(data.get("data_samples"), seen, feats.shape[0])
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
