"""Prototype rows follow dataset positions: concatenated galleries (repeated sample_idx) and subsets."""
from __future__ import annotations

import pytest
import torch
from mmengine.dataset import ConcatDataset, pseudo_collate
from torch.utils.data import DataLoader, Subset

from imret.datasets import CustomDataset
from imret.models.retrievers import ImageToImageRetriever

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]


def _retriever(prototype) -> ImageToImageRetriever:
    torch.manual_seed(0)
    model = ImageToImageRetriever(
        image_encoder=[dict(type='ResNet', depth=18), dict(type='GlobalAveragePooling')], prototype=prototype,
        data_preprocessor=dict(mean=[127.5] * 3, std=[64.0] * 3, to_rgb=True))
    return model.eval()


def _one_by_one(model: ImageToImageRetriever, items: list) -> torch.Tensor:
    """Each item encoded alone (the reference the rows must equal)."""
    rows = []
    with torch.no_grad():
        for item in items:
            data = model.data_preprocessor(pseudo_collate([item]), False)
            feats = model.extract_feat(data["inputs"])
            rows.append((feats[-1] if isinstance(feats, tuple) else feats).reshape(1, -1))
    return torch.cat(rows)


@pytest.fixture
def two_species(shared_datasets_root):
    root = shared_datasets_root / "flowers12" / "test"
    return [CustomDataset(data_root=str(root / name), with_label=False, pipeline=PIPELINE)
            for name in ("bluebell", "buttercup")]


def test_concatenated_gallery_rows_are_positions(two_species):
    concat = ConcatDataset(two_species)
    assert len(concat) == 40
    # the items repeat sample_idx 0..19: placing rows by it would overwrite half of the gallery
    assert [concat[i]["data_samples"].sample_idx for i in (0, 20)] == [0, 0]
    loader = DataLoader(concat, batch_size=6, shuffle=True, collate_fn=pseudo_collate,
                        generator=torch.Generator().manual_seed(3))
    model = _retriever(loader)
    model.prepare_prototype()
    expected = _one_by_one(model, [concat[i] for i in range(len(concat))])
    torch.testing.assert_close(model.prototype_vecs, expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(model.prototype_vecs[0], model.prototype_vecs[20])


def test_concat_dataset_config_prototype(two_species, shared_datasets_root):
    root = shared_datasets_root / "flowers12" / "test"
    parts = [dict(type='CustomDataset', data_root=str(root / name), with_label=False, pipeline=PIPELINE)
             for name in ("bluebell", "buttercup")]
    config = dict(batch_size=8, num_workers=0, dataset=dict(type='ConcatDataset', datasets=parts),
                  sampler=dict(type='DefaultSampler', shuffle=False))
    model = _retriever(config)
    model.prepare_prototype()
    concat = ConcatDataset(two_species)
    torch.testing.assert_close(model.prototype_vecs, _one_by_one(model, [concat[i] for i in range(40)]),
                               atol=1e-4, rtol=1e-4)


def test_subset_gallery_rows_are_positions(two_species):
    dataset = two_species[0]
    picked = [17, 3, 11, 0, 19]  # the items keep their parent's sample_idx (17, 3, ...), beyond 5 rows
    subset = Subset(dataset, picked)
    model = _retriever(DataLoader(subset, batch_size=2, collate_fn=pseudo_collate))
    model.prepare_prototype()
    assert model.prototype_vecs.shape[0] == len(picked)
    torch.testing.assert_close(model.prototype_vecs, _one_by_one(model, [dataset[i] for i in picked]),
                               atol=1e-4, rtol=1e-4)
