"""A corrupt image in a training folder: `imret train` names it, or skips it when the config says so."""
from __future__ import annotations

import warnings

import pytest
from engine_fixtures import make_tiny_images, write_tiny_config

from imret.cli.main import main
from imret.datasets.transforms import SkippedImageWarning


def _data_with_bad_file(root, kind: str):
    data = make_tiny_images(root, train_per_class=5, test_per_class=1)  # 16 files: full batches
    bad = data / "train" / "class1" / "broken.png"
    if kind == "garbage":
        bad.write_bytes(b"this is not an image")
    else:  # a PNG cut in the middle of its pixel data
        good = (data / "train" / "class1" / "img0.png").read_bytes()
        bad.write_bytes(good[: len(good) // 2])
    return data, bad


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_corrupt_training_image_stops_with_its_name(tmp_path, capsys, kind):
    data, bad = _data_with_bad_file(tmp_path / "data", kind)
    config = write_tiny_config(tmp_path / f"tiny_bad_{kind}.py", data, validate=False)
    assert main(["train", str(config), "--work-dir", str(tmp_path / "work")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "on_error='skip'" in err
    assert not (tmp_path / "work" / "epoch_1.pth").exists()


def test_corrupt_training_image_skipped_with_a_warning_when_configured(tmp_path):
    data, bad = _data_with_bad_file(tmp_path / "data", "garbage")
    config = write_tiny_config(tmp_path / "tiny_bad_skip.py", data, validate=False,
                               load_options=", on_error='skip'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["train", str(config), "--work-dir", str(tmp_path / "work")]) == 0
    skipped = [w for w in caught if issubclass(w.category, SkippedImageWarning)]
    assert skipped and all(str(bad) in str(w.message) for w in skipped)
    assert (tmp_path / "work" / "epoch_1.pth").exists()
