"""PackInputs, Compose, registry/mmengine integration and the full eval pipeline on real photos."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.dataset import Compose as MMEngineCompose
from mmengine.registry import DefaultScope
from PIL import Image, ImageOps

from imret.datasets.transforms import (CenterCrop, Compose, LoadImageFromFile, PackInputs, ResizeEdge,
                                       SkippedImageWarning)
from imret.registry import TRANSFORMS
from imret.structures import DataSample

# ---------------------------------------------------------------- PackInputs


def test_pack_inputs_round_trip_keeps_pixels_dtype_and_channel_order():
    img = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    img[..., 0] = 250  # the first (blue, in BGR) channel stays first: no flip
    packed = PackInputs()({"img": img, "gt_label": 3, "img_path": "a.jpg", "sample_idx": 7, "ori_shape": (8, 10),
                           "img_shape": (4, 5), "flip": False, "unrelated": object()})
    inputs, sample = packed["inputs"], packed["data_samples"]
    assert set(packed) == {"inputs", "data_samples"}
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 4, 5) and inputs.is_contiguous()
    np.testing.assert_array_equal(inputs.permute(1, 2, 0).numpy(), img)
    assert (inputs[0] == 250).all()
    assert isinstance(sample, DataSample)
    assert sample.gt_label.tolist() == [3] and sample.gt_label.dtype == torch.long
    assert sample.metainfo == {"img_path": "a.jpg", "sample_idx": 7, "ori_shape": (8, 10), "img_shape": (4, 5),
                               "flip": False}


@pytest.mark.parametrize("label", [[4, 9, 11], np.array([4, 9, 11]), torch.tensor([4, 9, 11])])
def test_pack_inputs_keeps_gallery_index_lists_as_long_tensors(label):
    sample = PackInputs()({"img": np.zeros((2, 2, 3), np.uint8), "gt_label": label})["data_samples"]
    assert sample.gt_label.dtype == torch.long and sample.gt_label.tolist() == [4, 9, 11]


def test_pack_inputs_empty_ground_truth_list():
    sample = PackInputs()({"img": np.zeros((2, 2, 3), np.uint8), "gt_label": []})["data_samples"]
    assert sample.gt_label.dtype == torch.long and sample.gt_label.numel() == 0


def test_pack_inputs_gt_score_algorithm_keys_and_custom_meta_keys():
    results = {"img": np.zeros((2, 2, 3), np.uint8), "gt_score": [0.25, 0.75], "instance_id": "item_42",
               "img_path": "x.png", "sample_idx": 1}
    packed = PackInputs(algorithm_keys=("instance_id", "absent"), meta_keys=("img_path",))(results)
    sample = packed["data_samples"]
    torch.testing.assert_close(sample.gt_score, torch.tensor([0.25, 0.75]), check_dtype=False)
    assert sample.instance_id == "item_42" and "absent" not in sample
    assert sample.metainfo == {"img_path": "x.png"}
    assert "gt_label" not in sample


def test_pack_inputs_grey_image_and_image_lists():
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    inputs = PackInputs()({"img": grey})["inputs"]
    assert inputs.shape == (1, 2, 3)
    np.testing.assert_array_equal(inputs[0].numpy(), grey)
    views = [np.zeros((2, 3, 3), np.uint8), np.ones((4, 5, 3), np.uint8)]
    packed = PackInputs()({"img": views})["inputs"]
    assert [tuple(t.shape) for t in packed] == [(3, 2, 3), (3, 4, 5)]
    assert packed[1].sum().item() == 60


def test_pack_inputs_without_the_input_key_says_what_is_missing():
    with pytest.raises(KeyError, match="'img'"):
        PackInputs()({"img_path": "a.jpg"})


# ---------------------------------------------------------------- Compose and registry


def test_compose_builds_dicts_and_keeps_callables():
    img = np.random.default_rng(1).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    seen = []
    pipeline = Compose([dict(type="CenterCrop", crop_size=(6, 4)), lambda r: seen.append(r["img"].shape) or r,
                        dict(type="PackInputs")])
    packed = pipeline({"img": img})
    assert seen == [(4, 6, 3)]
    np.testing.assert_array_equal(packed["inputs"].permute(1, 2, 0).numpy(), img[3:7, 3:9])
    assert "CenterCrop" in repr(pipeline)


def test_compose_stops_at_none():
    calls = []
    pipeline = Compose([lambda r: None, lambda r: calls.append(r) or r])
    assert pipeline({"img": None}) is None and calls == []
    assert Compose(None)({"a": 1}) == {"a": 1}


def test_compose_rejects_bad_items_and_unknown_types_listing_known_ones():
    with pytest.raises(TypeError, match="#1"):
        Compose([dict(type="PackInputs"), 42])
    with pytest.raises(KeyError, match="LoadImageFromFile"):
        Compose([dict(type="NoSuchTransform")])


MMPRETRAIN_PIPELINES = {
    # mmpretrain's ArcFace In-Shop recipe (resnet50-arcface_8xb32_inshop.py), verbatim arguments
    "inshop_train": [dict(type="LoadImageFromFile"), dict(type="Resize", scale=512),
                     dict(type="RandomCrop", crop_size=448), dict(type="RandomFlip", prob=0.5, direction="horizontal"),
                     dict(type="PackInputs")],
    "inshop_test": [dict(type="LoadImageFromFile"), dict(type="Resize", scale=512),
                    dict(type="CenterCrop", crop_size=448), dict(type="PackInputs")],
    # mmpretrain's ImageNet pipelines (backend='pillow' variant)
    "imagenet_train": [dict(type="LoadImageFromFile"),
                       dict(type="RandomResizedCrop", scale=224, backend="pillow", interpolation="bicubic"),
                       dict(type="RandomFlip", prob=0.5, direction="horizontal"), dict(type="PackInputs")],
    "imagenet_test": [dict(type="LoadImageFromFile"),
                      dict(type="ResizeEdge", scale=256, edge="short", backend="pillow", interpolation="bicubic"),
                      dict(type="CenterCrop", crop_size=224), dict(type="PackInputs")],
}


@pytest.mark.parametrize("name, side", [("inshop_train", 448), ("inshop_test", 448), ("imagenet_train", 224),
                                        ("imagenet_test", 224)])
def test_mmpretrain_pipeline_configs_build_and_run(tmp_path, name, side):
    path = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
    packed = Compose(MMPRETRAIN_PIPELINES[name])({"img_path": str(path), "gt_label": 1, "sample_idx": 0})
    assert packed["inputs"].shape == (3, side, side)
    assert (packed["inputs"][2] == 255).all() and (packed["inputs"][:2] == 0).all()  # red, in BGR order
    assert packed["data_samples"].img_path == str(path) and packed["data_samples"].ori_shape == (30, 40)


def test_every_transform_name_builds_through_imret_registry():
    names = ["LoadImageFromFile", "Resize", "ResizeEdge", "CenterCrop", "RandomCrop", "RandomResizedCrop",
             "RandomFlip", "PackInputs"]
    args = {"Resize": {"scale": 8}, "ResizeEdge": {"scale": 8}, "CenterCrop": {"crop_size": 4},
            "RandomCrop": {"crop_size": 4}, "RandomResizedCrop": {"scale": 4}}
    for name in names:
        assert type(TRANSFORMS.build(dict(type=name, **args.get(name, {})))).__name__ == name


class _FileList(BaseDataset):
    """A minimal mmengine dataset over a list of files, to check its own pipeline building."""

    def __init__(self, paths, **kwargs):
        self._paths = [str(p) for p in paths]
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(img_path=path, gt_label=index) for index, path in enumerate(self._paths)]


def test_mmengine_base_dataset_builds_imret_transforms_in_the_imret_scope(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (6, 4), (255, 0, 0)).save(path)
    pipeline = [dict(type="LoadImageFromFile"), dict(type="CenterCrop", crop_size=2), dict(type="PackInputs")]
    with DefaultScope.overwrite_default_scope("imret"):
        assert isinstance(MMEngineCompose([dict(type="LoadImageFromFile")]).transforms[0], LoadImageFromFile)
        dataset = _FileList([path], pipeline=pipeline, test_mode=True)
    item = dataset[0]
    assert item["inputs"].shape == (3, 2, 2) and (item["inputs"][2] == 255).all()
    assert item["data_samples"].sample_idx == 0 and item["data_samples"].gt_label.tolist() == [0]


def test_skipped_image_makes_mmengine_refetch_another_sample(tmp_path):
    bad, good = tmp_path / "bad.jpg", tmp_path / "good.png"
    bad.write_bytes(b"not an image at all")
    Image.new("RGB", (4, 4), (0, 255, 0)).save(good)
    with DefaultScope.overwrite_default_scope("imret"):
        dataset = _FileList([bad, good], pipeline=[dict(type="LoadImageFromFile", on_error="skip"),
                                                   dict(type="PackInputs")])
    np.random.seed(0)
    with pytest.warns(SkippedImageWarning, match="bad.jpg"):
        item = dataset[0]
    assert item["data_samples"].img_path == str(good)
    with DefaultScope.overwrite_default_scope("imret"):
        strict = _FileList([bad], pipeline=[dict(type="LoadImageFromFile"), dict(type="PackInputs")])
    with pytest.raises(OSError, match="bad.jpg"):
        strict[0]


# ---------------------------------------------------------------- the eval pipeline on real photos


def _reference_eval_tensor(path) -> np.ndarray:
    """Independent Pillow-only reference: upright RGB, short edge 256 (truncated), centre 224, CHW RGB."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    if width < height:
        size = (256, int(256 * height / width))
    else:
        size = (int(256 * width / height), 256)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = int(round((size[0] - 224) / 2)), int(round((size[1] - 224) / 2))
    return np.asarray(image.crop((left, top, left + 224, top + 224))).transpose(2, 0, 1)


def test_eval_pipeline_on_coral_photos_matches_a_pillow_reference(shared_datasets_root, monkeypatch):
    monkeypatch.setenv("IMRET_JPEG_DRAFT", "0")  # full decoding; draft decoding is compared in tests/io
    folder = shared_datasets_root / "coral_photos"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".bmp", ".png"))
    assert len(paths) >= 10, f"expected the 14 Coral photos in {folder}"
    pipeline = Compose([LoadImageFromFile(), ResizeEdge(scale=256, edge="short"), CenterCrop(224), PackInputs()])
    for index, path in enumerate(paths):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            packed = pipeline({"img_path": str(path), "sample_idx": index})
        inputs, sample = packed["inputs"], packed["data_samples"]
        with Image.open(path) as image:
            assert sample.ori_shape == (image.height, image.width)
        assert inputs.dtype == torch.uint8 and sample.img_shape == (224, 224) and sample.img_path == str(path)
        rgb = inputs.flip(0).numpy()  # BGR -> RGB, what the data preprocessor's to_rgb does
        np.testing.assert_array_equal(rgb, _reference_eval_tensor(path), err_msg=str(path))


def test_fresh_process_finds_transforms_through_the_registry_location_alone():
    """Only ``imret.registry`` imported: mmengine's Compose must still find imret's transforms lazily."""
    import subprocess
    import sys

    code = ("import imret.registry\n"
            "from mmengine.registry import DefaultScope\n"
            "from mmengine.dataset import Compose\n"
            "with DefaultScope.overwrite_default_scope('imret'):\n"
            "    pipeline = Compose([dict(type='LoadImageFromFile'), dict(type='PackInputs')])\n"
            "print([type(t).__module__ for t in pipeline.transforms])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "imret.datasets.transforms.loading" in done.stdout and "imret.datasets.transforms.formatting" in done.stdout
