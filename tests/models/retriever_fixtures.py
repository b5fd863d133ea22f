"""Small deterministic pieces for retriever tests: a vector dataset and a linear encoder."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import nn
from torch.utils.data import Dataset

from imret.models import ImageToImageRetriever
from imret.registry import DATASETS
from imret.structures import DataSample


@DATASETS.register_module(name="ToyVectorDataset", force=True)
class ToyVectorDataset(Dataset):
    """Each sample is a raw vector read from an .npy file, tagged with its sample_idx."""

    def __init__(self, npy_path: str):
        self.vectors = torch.from_numpy(np.load(npy_path)).float()

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.vectors[index], data_samples=DataSample(metainfo=dict(sample_idx=index)))


class TupleLinear(nn.Module):
    """A fixed linear map returning a 1-tuple, like a backbone + neck."""

    def __init__(self, in_dim: int, out_dim: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(in_dim, out_dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(out_dim, in_dim, generator=generator))
            self.linear.bias.copy_(torch.randn(out_dim, generator=generator))

    def forward(self, inputs: torch.Tensor):
        return (self.linear(inputs.flatten(1)),)


class TupleIdentity(nn.Module):
    def forward(self, inputs: torch.Tensor):
        return (inputs.flatten(1),)


def make_retriever(prototype, encoder: nn.Module | None = None, **kwargs) -> ImageToImageRetriever:
    return ImageToImageRetriever(image_encoder=encoder or TupleIdentity(), prototype=prototype,
                                 data_preprocessor=BaseDataPreprocessor(), **kwargs)


def loader_config(npy_path: str, batch_size: int = 3) -> dict:
    return dict(batch_size=batch_size, num_workers=0,
                dataset=dict(type="ToyVectorDataset", npy_path=npy_path),
                sampler=dict(type="DefaultSampler", shuffle=False),
                collate_fn=dict(type="default_collate"))
