"""timm's pretrained preprocessing fields are kept on disk, so a later start needs no timm import."""
from __future__ import annotations

import pytest
import timm

from imret.apis.preprocessing import timm_preprocessing

TAG = "tf_efficientnet_lite0.in1k"


def test_second_call_reads_the_cache_and_a_broken_file_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path))
    first = timm_preprocessing(TAG)
    assert first[0][2] == dict(type="CenterCrop", crop_size=224) and first[1]["to_rgb"] is True
    [cached] = (tmp_path / "timm").glob(f"{TAG}-timm*.json")

    real = timm.models.get_pretrained_cfg

    def refuse(name):
        raise AssertionError("timm was asked although the cache holds the config")

    monkeypatch.setattr(timm.models, "get_pretrained_cfg", refuse)
    assert timm_preprocessing(TAG) == first
    cached.write_text("{not json")
    with pytest.raises(AssertionError, match="timm was asked"):
        timm_preprocessing(TAG)
    monkeypatch.setattr(timm.models, "get_pretrained_cfg", real)
    assert timm_preprocessing(TAG) == first
