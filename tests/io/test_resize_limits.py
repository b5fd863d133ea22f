"""Aspect-ratio bombs: a tiny image whose resize would be huge is refused, before decoding and at the resize."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from imret.apis.pipeline import ImageTransform
from imret.apis.zoo import DEFAULT_MODEL, ZOO, entry_preprocessing
from imret.datasets.transforms import LoadImageFromFile, Resize, ResizeEdge
from imret.io import ImageTooLargeError, open_image

from hostile_images import blank_png

LITE0_PIPELINE = entry_preprocessing(ZOO[DEFAULT_MODEL])[0]

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("width", [4000, 40000])
def test_thin_png_is_refused_by_the_model_pipeline(tmp_path, width):
    path = tmp_path / f"thin{width}.png"
    path.write_bytes(blank_png(width, 1))
    with pytest.raises(ImageTooLargeError) as info:
        ImageTransform(LITE0_PIPELINE)(path)
    assert f"{width * 256}x256" in str(info.value) and path.name in str(info.value)
    assert isinstance(info.value, ValueError)  # callers report it like any unreadable image


def test_resize_transforms_refuse_in_memory_arrays_too():
    thin = np.zeros((1, 4000, 3), np.uint8)
    with pytest.raises(ImageTooLargeError, match="1024000x256"):
        ResizeEdge(scale=256)({"img": thin})
    with pytest.raises(ImageTooLargeError):
        Resize(scale_factor=5.0)({"img": np.zeros((4000, 4000, 3), np.uint8)})
    with pytest.raises(ImageTooLargeError):
        Resize(scale=(20000, 10))({"img": np.zeros((10, 10, 3), np.uint8)})


def test_normal_and_panorama_images_keep_mmpretrain_sizes():
    assert ResizeEdge(scale=256)({"img": np.zeros((480, 640, 3), np.uint8)})["img"].shape == (256, 341, 3)
    # a 10:1 panorama is a legitimate photo: 2560x256 is far under the limit
    assert ResizeEdge(scale=256)({"img": np.zeros((300, 3000, 3), np.uint8)})["img"].shape == (256, 2560, 3)
    assert Resize(scale=(600, 600), keep_ratio=True)({"img": np.zeros((10, 4000, 3), np.uint8)})["img"].shape \
        == (2, 600, 3)


def test_resize_limit_argument_and_environment_variable(monkeypatch):
    image = {"img": np.zeros((300, 3000, 3), np.uint8)}
    with pytest.raises(ImageTooLargeError, match="2560x256"):
        ResizeEdge(scale=256, max_side_after_resize=2000)(dict(image))
    monkeypatch.setenv("IMRET_MAX_SIDE_AFTER_RESIZE", "2000")
    with pytest.raises(ImageTooLargeError, match="IMRET_MAX_SIDE_AFTER_RESIZE"):
        ResizeEdge(scale=256)(dict(image))
    assert ResizeEdge(scale=256, max_side_after_resize=4000)(dict(image))["img"].shape == (256, 2560, 3)


def test_loader_refuses_before_decoding_and_skip_mode_skips(tmp_path):
    path = tmp_path / "thin.png"
    path.write_bytes(blank_png(4000, 1))
    with pytest.raises(ImageTooLargeError):
        open_image(path, draft_size=ResizeEdge(scale=256).planned_size)
    loader = LoadImageFromFile(on_error="skip")
    loader.resize_plan = ResizeEdge(scale=256).planned_size
    with pytest.warns(UserWarning, match="thin.png"):
        assert loader({"img_path": str(path)}) is None


MEASURE = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from hostile_images import blank_png, peak_rss_kb
    from imret.apis.pipeline import ImageTransform
    from imret.apis.zoo import DEFAULT_MODEL, ZOO, entry_preprocessing
    transform = ImageTransform(entry_preprocessing(ZOO[DEFAULT_MODEL])[0])
    before = peak_rss_kb()
    started, outcomes = time.perf_counter(), []
    for width, height in [(4000, 1), (40000, 1), (1, 40000), (12500, 12500), (9000, 9000), (8200, 8200)]:
        try:
            transform(blank_png(width, height))
            outcomes.append("decoded")
        except ValueError as error:
            outcomes.append(type(error).__name__)
    grown = peak_rss_kb() - before
    print(json.dumps({"grown_kb": grown, "seconds": time.perf_counter() - started, "outcomes": outcomes}))
""")


def test_bombs_cost_little_memory_and_time():
    """Without the limits the 4000x1 PNG alone needs +2.5 GB and the 12500x12500 one 2 GB (issue 11)."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(TESTS)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcomes"] == ["ImageTooLargeError"] * 6
    assert report["grown_kb"] < 30 * 1024, report  # peak RSS growth under 30 MB
    assert report["seconds"] < 20, report
