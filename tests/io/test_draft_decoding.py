"""JPEG draft decoding: a big photo decodes at a reduced scale, and the pipeline output stays that of full decoding."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imret.apis.pipeline import ImageTransform
from imret.apis.zoo import DEFAULT_MODEL, ZOO, entry_preprocessing
from imret.datasets.transforms import Compose, LoadImageFromFile, ResizeEdge
from imret.io import DRAFT_BOX_KEY, ORIGINAL_SIZE_KEY, open_image

PHOTOS = ("ukbench/ukbench00000.jpg", "ukbench/ukbench00005.jpg", "coral_photos/parrot.jpg",
          "coral_photos/owl.jpg")


LITE0_PIPELINE = entry_preprocessing(ZOO[DEFAULT_MODEL])[0]


def _enlarged(shared_datasets_root, tmp_path, name, factor, orientation=1):
    with Image.open(shared_datasets_root / name) as photo:
        photo = photo.convert("RGB")
        big = photo.resize((photo.width * factor, photo.height * factor), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"{name.replace('/', '_')}_{factor}_{orientation}.jpg"
    big.save(path, quality=90, exif=exif)
    return path


def _inputs(transform, path, monkeypatch, draft):
    monkeypatch.setenv("IMRET_JPEG_DRAFT", "1" if draft else "0")
    return transform(path).astype(np.float64)


@pytest.mark.parametrize("factor", [3, 6])
def test_pipeline_output_with_draft_matches_full_decoding(shared_datasets_root, tmp_path, monkeypatch, factor):
    """Real photos enlarged to 1536-3840 px wide: inputs within half a grey level on average."""
    transform = ImageTransform(LITE0_PIPELINE)
    for name in PHOTOS:
        path = _enlarged(shared_datasets_root, tmp_path, name, factor)
        full = _inputs(transform, path, monkeypatch, draft=False)
        drafted = _inputs(transform, path, monkeypatch, draft=True)
        diff = np.abs(full - drafted)
        assert full.shape == drafted.shape == (224, 224, 3)
        assert diff.mean() < 0.8 and np.percentile(diff, 99) <= 4, (name, diff.mean(), diff.max())


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_draft_follows_exif_orientation(shared_datasets_root, tmp_path, monkeypatch, orientation):
    """Rotated photos whose size is not a multiple of the draft scale keep the full-decoding geometry."""
    path = _enlarged(shared_datasets_root, tmp_path, "coral_photos/parrot.jpg", 4, orientation)
    transform = ImageTransform(LITE0_PIPELINE)
    diff = np.abs(_inputs(transform, path, monkeypatch, True) - _inputs(transform, path, monkeypatch, False))
    assert diff.mean() < 0.8 and np.percentile(diff, 99) <= 4, (orientation, diff.mean())


def test_loader_decodes_at_a_reduced_scale_only_when_the_resize_allows(shared_datasets_root, tmp_path):
    big = _enlarged(shared_datasets_root, tmp_path, "ukbench/ukbench00000.jpg", 6)  # 3840x2880
    pipeline = Compose([LoadImageFromFile(), ResizeEdge(scale=256, edge="short")])
    loader = pipeline.transforms[0]
    loaded = loader({"img_path": str(big)})
    # 2 x the planned 341x256 is 682x512: 1/4 scale (960x720) is the smallest at least that large
    assert loaded["img"].shape == (720, 960, 3) and loaded["ori_shape"] == (2880, 3840)
    assert pipeline({"img_path": str(big)})["img"].shape == (256, 341, 3)
    image = open_image(big, draft_size=(341, 256))
    assert image.size == (960, 720) and image.info[ORIGINAL_SIZE_KEY] == (3840, 2880)
    assert image.info[DRAFT_BOX_KEY] == (0, 0, 960, 720)
    # UKBench's own 640x480 is already less than twice the target: decoded fully
    original = shared_datasets_root / "ukbench" / "ukbench00000.jpg"
    assert loader({"img_path": str(original)})["img"].shape == (480, 640, 3)
    # without a resize after it (e.g. a random crop for training) nothing is reduced
    assert LoadImageFromFile()({"img_path": str(big)})["img"].shape == (2880, 3840, 3)


def test_draft_can_be_turned_off(shared_datasets_root, tmp_path, monkeypatch):
    big = _enlarged(shared_datasets_root, tmp_path, "ukbench/ukbench00000.jpg", 6)
    assert open_image(big, draft_size=(341, 256), draft=False).size == (3840, 2880)
    monkeypatch.setenv("IMRET_JPEG_DRAFT", "0")
    assert open_image(big, draft_size=(341, 256)).size == (3840, 2880)
