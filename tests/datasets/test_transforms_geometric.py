"""Resize, ResizeEdge, CenterCrop, RandomCrop, RandomResizedCrop and RandomFlip against numpy references."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imret.datasets.transforms import (CenterCrop, RandomCrop, RandomFlip, RandomResizedCrop, Resize, ResizeEdge,
                                       resize_image)

BACKENDS = ["pillow", "cv2"]


def coords_image(height: int, width: int) -> np.ndarray:
    """Each pixel holds (row, column, 7), so crops can be located exactly."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows, cols, np.full_like(rows, 7)], axis=2).astype(np.uint8)


def rand_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# ---------------------------------------------------------------- Resize


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_nearest_double_equals_np_repeat(backend):
    img = rand_image(3, 4)
    out = Resize(scale=(8, 6), interpolation="nearest", backend=backend)({"img": img})
    np.testing.assert_array_equal(out["img"], img.repeat(2, axis=0).repeat(2, axis=1))
    assert out["img_shape"] == (6, 8) and out["scale_factor"] == (2.0, 2.0) and out["keep_ratio"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_area_half_equals_block_mean(backend):
    base = np.random.default_rng(1).integers(20, 236, (3, 4, 3))
    wiggle = np.tile(np.array([[9, -9], [-9, 9]])[..., None], (3, 4, 3))  # zero mean per 2x2 block
    img = (base.repeat(2, axis=0).repeat(2, axis=1) + wiggle).astype(np.uint8)
    out = Resize(scale=(4, 3), interpolation="area", backend=backend)({"img": img})["img"]
    np.testing.assert_array_equal(out, base.astype(np.uint8))


def test_resize_keep_ratio_fits_both_bounds_rounding_half_up():
    img = rand_image(20, 30)  # w x h = 30 x 20
    out = Resize(scale=(15, 100), keep_ratio=True)({"img": img})
    # factor = min(100 / 30, 15 / 20) = 0.75 -> w = int(22.5 + 0.5) = 23, h = 15
    assert out["img"].shape == (15, 23, 3) and out["img_shape"] == (15, 23)
    assert out["scale_factor"] == (23 / 30, 15 / 20)
    # the order of the bounds does not matter: long edge <= 1000, short edge <= 10
    assert Resize(scale=(10, 1000), keep_ratio=True)({"img": img})["img"].shape == (10, 15, 3)


def test_resize_fixed_size_int_scale_and_scale_factor():
    img = rand_image(21, 30)
    assert Resize(scale=(7, 5))({"img": img})["img"].shape == (5, 7, 3)
    assert Resize(scale=8)({"img": img})["img"].shape == (8, 8, 3)
    out = Resize(scale_factor=0.5)({"img": img})
    assert out["img"].shape == (11, 15, 3)  # int(10.5 + 0.5), int(15 + 0.5)
    assert out["scale"] == (15, 11)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_float_and_grey_inputs_keep_dtype_and_layout(backend):
    grey = rand_image(3, 4)[..., 0]
    out = Resize(scale=(8, 6), interpolation="nearest", backend=backend)({"img": grey})["img"]
    np.testing.assert_array_equal(out, grey.repeat(2, axis=0).repeat(2, axis=1))
    img = rand_image(3, 4).astype(np.float32) + 0.25
    out = Resize(scale=(8, 6), interpolation="nearest", backend=backend)({"img": img})["img"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, img.repeat(2, axis=0).repeat(2, axis=1))


def test_pillow_and_cv2_bilinear_agree_on_a_smooth_image():
    rows, cols = np.mgrid[0:40, 0:60]
    img = np.stack([rows * 5, cols * 3, rows + cols], axis=2).astype(np.uint8)
    pil = resize_image(img, (90, 60), "bilinear", "pillow").astype(int)
    cv = resize_image(img, (90, 60), "bilinear", "cv2").astype(int)
    assert np.abs(pil - cv)[2:-2, 2:-2].max() <= 2


@pytest.mark.parametrize("kwargs, match", [
    ({}, "scale"), ({"scale": (0, 5)}, "positive"), ({"scale": 4, "interpolation": "cubic"}, "interpolation"),
    ({"scale": 4, "backend": "skimage"}, "backend"),
])
def test_resize_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Resize(**kwargs)


# ---------------------------------------------------------------- ResizeEdge


@pytest.mark.parametrize("hw, edge, scale, expected_hw", [
    ((480, 640), "short", 256, (256, 341)),  # 640x480 -> 341x256 (w x h)
    ((640, 480), "short", 256, (341, 256)),
    ((480, 640), "long", 320, (240, 320)),
    ((480, 640), "width", 100, (75, 100)),
    ((480, 640), "height", 100, (100, 133)),
    ((30, 100), "short", 8, (8, 26)),  # int(800 / 30) = int(26.67): truncated as mmpretrain, not rounded
])
def test_resize_edge_sizes(hw, edge, scale, expected_hw):
    img = np.zeros(hw + (3,), np.uint8)
    out = ResizeEdge(scale=scale, edge=edge)({"img": img})
    assert out["img"].shape == expected_hw + (3,) and out["img_shape"] == expected_hw
    assert out["scale"] == expected_hw[::-1]
    assert out["scale_factor"] == (expected_hw[1] / hw[1], expected_hw[0] / hw[0])


def test_resize_edge_content_nearest_double():
    img = rand_image(3, 5)
    out = ResizeEdge(scale=6, edge="short", interpolation="nearest")({"img": img})["img"]
    np.testing.assert_array_equal(out, img.repeat(2, axis=0).repeat(2, axis=1))


def test_resize_edge_bad_arguments():
    with pytest.raises(ValueError, match="edge"):
        ResizeEdge(scale=10, edge="diagonal")
    with pytest.raises(ValueError, match="scale"):
        ResizeEdge(scale=0)


# ---------------------------------------------------------------- CenterCrop


def test_center_crop_equals_expected_slice():
    img = coords_image(7, 10)
    out = CenterCrop(crop_size=(4, 3))({"img": img})  # (w, h)
    np.testing.assert_array_equal(out["img"], img[2:5, 3:7])
    assert out["img_shape"] == (3, 4)


def test_center_crop_offsets_round_half_to_even_like_mmcv():
    img = coords_image(6, 8)
    # (6 - 3) / 2 = 1.5 -> 2 and (8 - 3) / 2 = 2.5 -> 2
    np.testing.assert_array_equal(CenterCrop(3)({"img": img})["img"], img[2:5, 2:5])


def test_center_crop_224_of_resized_photo_shape():
    img = coords_image(256, 341)
    out = CenterCrop(224)({"img": img})["img"]
    np.testing.assert_array_equal(out, img[16:240, 58:282])


def test_center_crop_larger_than_image_is_clipped_or_padded():
    img = coords_image(2, 2)
    np.testing.assert_array_equal(CenterCrop(6)({"img": img})["img"], img)
    out = CenterCrop((4, 3), auto_pad=True, pad_cfg=dict(type="Pad", pad_val=9))({"img": img})["img"]
    expected = np.full((3, 4, 3), 9, np.uint8)
    expected[:2, :2] = img
    np.testing.assert_array_equal(out, expected)


def test_center_crop_bad_size():
    with pytest.raises(ValueError, match="crop size"):
        CenterCrop((3, 0))


# ---------------------------------------------------------------- RandomCrop


def test_random_crop_content_and_offsets_cover_the_whole_range():
    img = coords_image(8, 10)
    crop = RandomCrop(crop_size=(3, 4))  # (h, w)
    np.random.seed(0)
    offsets = set()
    for _ in range(300):
        out = crop({"img": img})["img"]
        top, left = int(out[0, 0, 0]), int(out[0, 0, 1])
        np.testing.assert_array_equal(out, img[top:top + 3, left:left + 4])
        offsets.add((top, left))
    tops, lefts = {t for t, _ in offsets}, {left for _, left in offsets}
    assert tops == set(range(6)) and lefts == set(range(7))


def test_random_crop_is_reproducible_with_the_numpy_seed():
    img = rand_image(20, 20)
    np.random.seed(3)
    first = RandomCrop(5)({"img": img})["img"]
    np.random.seed(3)
    np.testing.assert_array_equal(RandomCrop(5)({"img": img})["img"], first)


def test_random_crop_padding_constant_equals_np_pad():
    img = rand_image(4, 5)
    out = RandomCrop(crop_size=(8, 9), padding=2, pad_val=7)({"img": img})["img"]
    np.testing.assert_array_equal(out, np.pad(img, ((2, 2), (2, 2), (0, 0)), constant_values=7))
    out = RandomCrop(crop_size=(8, 7), padding=(1, 2))({"img": img})["img"]  # left/right 1, top/bottom 2
    np.testing.assert_array_equal(out, np.pad(img, ((2, 2), (1, 1), (0, 0))))


def test_random_crop_per_channel_pad_value_and_reflect_padding_when_needed():
    img = rand_image(2, 3)
    out = RandomCrop(crop_size=(4, 5), pad_if_needed=True, padding_mode="reflect")({"img": img})["img"]
    np.testing.assert_array_equal(out, np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="reflect"))
    out = RandomCrop(crop_size=(4, 5), pad_if_needed=True, pad_val=(1, 2, 3))({"img": img})["img"]
    np.testing.assert_array_equal(out[0, 0], [1, 2, 3])
    np.testing.assert_array_equal(out[1:3, 1:4], img)


def test_random_crop_smaller_image_without_padding_is_kept_whole():
    img = rand_image(3, 3)
    np.testing.assert_array_equal(RandomCrop(5)({"img": img})["img"], img)


def test_random_crop_bad_arguments():
    with pytest.raises(ValueError, match="padding_mode"):
        RandomCrop(4, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding"):
        RandomCrop(4, padding=(1, 2, 3))


# ---------------------------------------------------------------- RandomResizedCrop


def test_random_resized_crop_size_and_content_come_from_the_chosen_window():
    img = coords_image(40, 50)
    transform = RandomResizedCrop(scale=(6, 9), interpolation="nearest")  # (h, w)
    for seed in range(20):
        np.random.seed(seed)
        top, left, height, width = transform.crop_params(40, 50)
        np.random.seed(seed)
        out = transform({"img": img})
        assert out["img"].shape == (6, 9, 3) and out["img_shape"] == (6, 9)
        rows, cols = out["img"][..., 0].astype(int), out["img"][..., 1].astype(int)
        assert rows.min() >= top and rows.max() <= top + height - 1
        assert cols.min() >= left and cols.max() <= left + width - 1
        assert rows.min() - top <= height / 6 and cols.min() - left <= width / 9  # spans the window
        assert (top + height - 1) - rows.max() <= height / 6 and (left + width - 1) - cols.max() <= width / 9
        assert (np.diff(rows, axis=0) >= 0).all() and (np.diff(cols, axis=1) >= 0).all()
        assert (out["img"][..., 2] == 7).all()


def test_random_resized_crop_area_and_aspect_ratio_ranges():
    transform = RandomResizedCrop(scale=8, crop_ratio_range=(0.25, 0.5), aspect_ratio_range=(0.5, 2.0))
    np.random.seed(0)
    for _ in range(200):
        top, left, height, width = transform.crop_params(100, 120)
        assert 0 <= top and top + height <= 100 and 0 <= left and left + width <= 120
        assert 0.23 <= height * width / 12000 <= 0.52
        assert 0.45 <= width / height <= 2.2


@pytest.mark.parametrize("max_attempts", [0, 10])
def test_random_resized_crop_falls_back_to_the_central_window(max_attempts):
    img = coords_image(10, 20)
    # a 1.0-area window with ratio 1 never fits a 2:1 image -> centred 10x10 square
    transform = RandomResizedCrop(scale=10, crop_ratio_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0),
                                  max_attempts=max_attempts, interpolation="nearest")
    np.testing.assert_array_equal(transform({"img": img})["img"], img[:, 5:15])


def test_random_resized_crop_bad_ranges():
    with pytest.raises(ValueError, match="crop_ratio_range"):
        RandomResizedCrop(8, crop_ratio_range=(0.9, 0.1))
    with pytest.raises(ValueError, match="max_attempts"):
        RandomResizedCrop(8, max_attempts=-1)


# ---------------------------------------------------------------- RandomFlip


@pytest.mark.parametrize("direction, axes", [("horizontal", (1,)), ("vertical", (0,)), ("diagonal", (0, 1))])
def test_random_flip_prob_one_equals_np_flip(direction, axes):
    img = rand_image(4, 5)
    out = RandomFlip(prob=1.0, direction=direction)({"img": img})
    np.testing.assert_array_equal(out["img"], np.flip(img, axis=axes))
    assert out["flip"] is True and out["flip_direction"] == direction
    torch.from_numpy(out["img"])  # contiguous: no negative strides


def test_random_flip_prob_zero_keeps_the_image():
    img = rand_image(4, 5)
    out = RandomFlip(prob=0.0)({"img": img.copy()})
    np.testing.assert_array_equal(out["img"], img)
    assert out["flip"] is False and out["flip_direction"] is None


def test_random_flip_probability_split_over_directions():
    np.random.seed(0)
    counts = {"horizontal": 0, "vertical": 0, None: 0}
    both = RandomFlip(prob=1.0, direction=["horizontal", "vertical"])
    for _ in range(400):
        counts[both.choose_direction()] += 1
    assert counts[None] == 0 and 150 < counts["horizontal"] < 250
    counts = {"horizontal": 0, "vertical": 0, None: 0}
    listed = RandomFlip(prob=[0.3, 0.0], direction=["horizontal", "vertical"])
    for _ in range(1000):
        counts[listed.choose_direction()] += 1
    assert counts["vertical"] == 0 and 240 < counts["horizontal"] < 360


@pytest.mark.parametrize("kwargs", [{"prob": 1.5}, {"direction": "sideways"}, {"prob": [0.5, 0.2], "direction": "horizontal"},
                                    {"prob": [0.6, 0.6], "direction": ["horizontal", "vertical"]}])
def test_random_flip_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        RandomFlip(**kwargs)
