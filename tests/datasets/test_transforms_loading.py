"""LoadImageFromFile on real small files written by Pillow: modes, orientation, errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from imret.datasets.transforms import (ImageNotFoundError, LoadImageFromFile, SkippedImageWarning,
                                       UnreadableImageError)

RED_BGR = (0, 0, 255)
BLUE_BGR = (255, 0, 0)


def load(path, **kwargs):
    return LoadImageFromFile(**kwargs)({"img_path": str(path)})


def test_pure_red_png_is_bgr_uint8_with_shapes(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (5, 3), (255, 0, 0)).save(path)
    results = load(path)
    img = results["img"]
    assert img.dtype == np.uint8 and img.shape == (3, 5, 3)
    assert (img == np.array(RED_BGR, np.uint8)).all()
    assert results["img_shape"] == (3, 5) and results["ori_shape"] == (3, 5)


def _two_halves_jpeg(path, orientation):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # stored left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif)


@pytest.mark.parametrize("orientation, top, bottom", [(6, RED_BGR, BLUE_BGR), (8, BLUE_BGR, RED_BGR)])
def test_exif_rotated_jpeg_is_loaded_upright(tmp_path, orientation, top, bottom):
    path = tmp_path / "rotated.jpg"
    _two_halves_jpeg(path, orientation)
    img = load(path)["img"]
    assert img.shape == (40, 20, 3)  # stored 40x20 (w x h), displayed 20x40
    np.testing.assert_allclose(img[5, 10], top, atol=12)
    np.testing.assert_allclose(img[34, 10], bottom, atol=12)


def test_ignore_orientation_keeps_the_stored_layout(tmp_path):
    path = tmp_path / "rotated.jpg"
    _two_halves_jpeg(path, 6)
    img = load(path, color_type="color_ignore_orientation")["img"]
    assert img.shape == (20, 40, 3)
    np.testing.assert_allclose(img[10, 5], RED_BGR, atol=12)


def test_grey_png_becomes_three_equal_channels(tmp_path):
    grey = np.array([[0, 17, 128], [200, 254, 255]], np.uint8)
    path = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(path)
    img = load(path)["img"]
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(img[..., channel], grey)


def test_bilevel_png_maps_to_0_and_255(tmp_path):
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    path = tmp_path / "bits.png"
    image.save(path)
    np.testing.assert_array_equal(load(path)["img"][0], [[0, 0, 0], [255, 255, 255]])


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.array([[[200, 100, 0, 128], [10, 20, 30, 255], [10, 20, 30, 0]]], np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    img = load(path)["img"]
    assert img.shape == (1, 3, 3)
    # hand-computed: round(c * a / 255 + 255 * (1 - a / 255)), then BGR
    np.testing.assert_array_equal(img[0], [[127, 177, 227], [30, 20, 10], [255, 255, 255]])


def test_la_png_is_composited_on_white(tmp_path):
    la = np.array([[[50, 0], [50, 255]]], np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    np.testing.assert_array_equal(load(path)["img"][0], [[255, 255, 255], [50, 50, 50]])


def test_palette_png_with_transparent_index(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=1)
    np.testing.assert_array_equal(load(path)["img"][0], [RED_BGR, [255, 255, 255]])


@pytest.mark.parametrize("fmt, atol", [("TIFF", 0), ("JPEG", 12)])
def test_cmyk_becomes_rgb(tmp_path, fmt, atol):
    image = Image.new("CMYK", (24, 8), (0, 255, 255, 0))  # red
    image.paste((255, 0, 255, 0), (8, 0, 16, 8))  # green
    image.paste((0, 0, 0, 255), (16, 0, 24, 8))  # black
    path = tmp_path / f"cmyk.{fmt.lower()}"
    image.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    img = load(path)["img"]
    assert img.shape == (8, 24, 3) and img.dtype == np.uint8
    np.testing.assert_allclose(img[4, 3], RED_BGR, atol=atol)
    np.testing.assert_allclose(img[4, 11], (0, 255, 0), atol=atol)
    np.testing.assert_allclose(img[4, 20], (0, 0, 0), atol=atol)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 128, 129, 257, 32896, 65535]], np.uint16)
    path = tmp_path / "sixteen.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I;16")  # the file really is 16-bit
    img = load(path)["img"]
    assert img.dtype == np.uint8 and img.shape == (1, 6, 3)
    np.testing.assert_array_equal(img[0, :, 0], [0, 0, 1, 1, 128, 255])  # round(v / 257)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_grayscale_color_type_gives_luma(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (2, 2), (255, 0, 0)).save(path)
    img = load(path, color_type="grayscale")["img"]
    assert img.shape == (2, 2)
    assert (img == 76).all()  # 0.299 * 255


def test_to_float32(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (2, 2), (255, 0, 0)).save(path)
    img = load(path, to_float32=True)["img"]
    assert img.dtype == np.float32
    np.testing.assert_array_equal(img[0, 0], [0.0, 0.0, 255.0])


def _truncated_jpeg(path):
    rng = np.random.default_rng(0)
    full = path.with_suffix(".full.jpg")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(full, quality=90)
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_jpeg_raises_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    path = tmp_path / "truncated.jpg"
    _truncated_jpeg(path)
    with pytest.raises(UnreadableImageError) as info:
        load(path)
    assert str(path) in str(info.value) and "not a readable image" in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("content", [b"this is not an image", b""])
def test_garbage_or_empty_file_raises_naming_the_file(tmp_path, content):
    path = tmp_path / "fake.png"
    path.write_bytes(content)
    with pytest.raises(UnreadableImageError, match="not a readable image") as info:
        load(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    path = tmp_path / "nowhere.jpg"
    with pytest.raises(FileNotFoundError) as info:
        load(path)
    assert isinstance(info.value, ImageNotFoundError) and str(path) in str(info.value)


def test_directory_instead_of_file_raises(tmp_path):
    with pytest.raises(UnreadableImageError, match=str(tmp_path)):
        load(tmp_path)


@pytest.mark.parametrize("kwargs", [{"on_error": "skip"}, {"ignore_empty": True}])
def test_skip_mode_warns_and_returns_none(tmp_path, monkeypatch, kwargs):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    path = tmp_path / "truncated.jpg"
    _truncated_jpeg(path)
    with pytest.warns(SkippedImageWarning) as record:
        assert load(path, **kwargs) is None
    assert str(path) in str(record[0].message)
    with pytest.warns(SkippedImageWarning, match="nowhere"):
        assert load(tmp_path / "nowhere.jpg", **kwargs) is None


def test_skip_mode_does_not_warn_on_good_files(tmp_path):
    path = tmp_path / "red.png"
    Image.new("RGB", (2, 2), (255, 0, 0)).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load(path, on_error="skip")["img"].shape == (2, 2, 3)


def test_in_memory_array_is_kept_and_pil_image_converted():
    array = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    results = LoadImageFromFile()({"img": array})
    assert results["img"] is array and results["img_shape"] == (2, 4) and results["ori_shape"] == (2, 4)
    pil = Image.new("RGBA", (3, 2), (255, 0, 0, 255))
    np.testing.assert_array_equal(LoadImageFromFile()({"img": pil})["img"][0, 0], RED_BGR)


def test_missing_img_path_is_a_clear_key_error():
    with pytest.raises(KeyError, match="img_path"):
        LoadImageFromFile()({"sample_idx": 0})


@pytest.mark.parametrize("kwargs, match", [
    ({"imdecode_backend": "cv2"}, "Pillow"),
    ({"color_type": "unchanged"}, "color_type"),
    ({"on_error": "ignore"}, "on_error"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LoadImageFromFile(**kwargs)


def test_eps_is_refused_rather_than_handed_to_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: calls.append(args))
    path = tmp_path / "vector.eps"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path, format="EPS")
    with pytest.raises(UnreadableImageError, match="not a readable image"):
        load(path)
    assert calls == []


def test_att_faces_pgm_and_coral_bmp_load(shared_datasets_root):
    face = shared_datasets_root / "att_faces" / "s1" / "1.pgm"
    with Image.open(face) as image:
        grey = np.asarray(image.convert("L"))
    img = load(face)["img"]
    assert img.shape == (112, 92, 3)
    for channel in range(3):
        np.testing.assert_array_equal(img[..., channel], grey)
    bird = shared_datasets_root / "coral_photos" / "bird.bmp"
    with Image.open(bird) as image:
        rgb = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(load(bird)["img"], rgb[..., ::-1])
