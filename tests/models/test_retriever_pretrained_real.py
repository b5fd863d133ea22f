"""The offline pretrained EfficientNet-Lite0 ranks same-category photos first on real photos."""
from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from imret.models import ImageToImageRetriever

CATEGORIES = {
    "cat": ["imprinting_cat_train_0", "imprinting_cat_test_0", "cat"],
    "dog": ["imprinting_dog_train_0", "imprinting_dog_test_0"],
    "hot dog": ["imprinting_hotdog_train_0", "imprinting_hotdog_train_1", "imprinting_hotdog_test_0", "hot_dog"],
}
PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="ResizeEdge", scale=256, edge="short", interpolation="bicubic"),
    dict(type="CenterCrop", crop_size=224),
    dict(type="PackInputs"),
]


def nn_at_1(root: Path, pretrained: bool) -> float:
    from imret.datasets import CustomDataset
    dataset = CustomDataset(data_root=str(root), with_label=False, pipeline=PIPELINE)
    stems = [Path(dataset.get_data_info(i)["img_path"]).stem for i in range(len(dataset))]
    torch.manual_seed(0)
    model = ImageToImageRetriever(
        image_encoder=[dict(type="TIMMBackbone", model_name="tf_efficientnet_lite0", pretrained=pretrained),
                       dict(type="GlobalAveragePooling")],
        prototype=DataLoader(dataset, batch_size=7, collate_fn=lambda batch: {
            "inputs": [item["inputs"] for item in batch], "data_samples": [item["data_samples"] for item in batch]}),
        data_preprocessor=dict(mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True))
    model.eval()
    model.prepare_prototype()
    vectors = model.prototype_vecs
    category_of = {stem: name for name, members in CATEGORIES.items() for stem in members}
    hits = []
    for index, stem in enumerate(stems):
        if stem not in category_of:
            continue
        scores = model.matching(vectors[index:index + 1])["score"][0]
        scores[index] = float("-inf")
        best = stems[int(scores.argmax())]
        hits.append(category_of.get(best) == category_of[stem])
    assert len(hits) == 9
    return sum(hits) / len(hits)


def test_pretrained_encoder_retrieves_same_category_where_random_does_not(shared_datasets_root):
    root = shared_datasets_root / "coral_photos"
    pretrained = nn_at_1(root, True)
    random_init = nn_at_1(root, False)
    assert pretrained >= 8 / 9, pretrained
    assert random_init <= 5 / 9, random_init
