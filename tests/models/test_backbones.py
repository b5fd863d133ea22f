"""ResNet and TIMMBackbone: stage outputs, freezing, norm_eval, and equality with the models they wrap."""
import pytest
import timm
import torch
import torchvision
from torch import nn

from imret.models.backbones import ResNet, TIMMBackbone
from imret.registry import MODELS


def torchvision_stages(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    outs = []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(model, name)(x)
        outs.append(x)
    return outs


def test_resnet_rejects_unsupported_depth_listing_valid_ones():
    with pytest.raises(ValueError, match=r"\[18, 34, 50, 101, 152\]"):
        ResNet(depth=42)


def test_resnet50_stages_match_torchvision_with_the_same_weights():
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type="ResNet", depth=50, out_indices=(0, 1, 2, 3))).eval()
    reference = torchvision.models.resnet50().eval()
    missing, unexpected = reference.load_state_dict(backbone.state_dict(), strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        outs = backbone(x)
        expected = torchvision_stages(reference, x)
    assert isinstance(outs, tuple) and len(outs) == 4
    assert [o.shape[1] for o in outs] == [256, 512, 1024, 2048] == backbone.out_channels
    for out, ref in zip(outs, expected):
        assert torch.allclose(out, ref, atol=1e-5)


def test_resnet_out_indices_select_and_negative_index():
    backbone = ResNet(depth=18, out_indices=(1, -1)).eval()
    with torch.no_grad():
        outs = backbone(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 128, 4, 4), (2, 512, 1, 1)]
    three = ResNet(depth=18, num_stages=3, out_indices=(2,))
    assert not hasattr(three, "layer4") and three.out_channels == [64, 128, 256]
    with pytest.raises(ValueError, match="out_indices"):
        ResNet(depth=18, out_indices=(4,))


def test_resnet_frozen_stages_freeze_stem_and_first_stages():
    backbone = ResNet(depth=18, frozen_stages=2)
    for name, param in backbone.named_parameters():
        frozen = name.startswith(("conv1.", "bn1.", "layer1.", "layer2."))
        assert param.requires_grad is not frozen, name
    backbone.train()
    assert not backbone.bn1.training and not backbone.layer2[0].bn1.training
    assert backbone.layer3[0].bn1.training
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in backbone.parameters() if p.requires_grad], lr=0.1)
    backbone(torch.randn(2, 3, 32, 32))[-1].sum().backward()
    optimizer.step()
    after = backbone.state_dict()
    assert torch.equal(before["layer2.0.conv1.weight"], after["layer2.0.conv1.weight"])
    assert torch.equal(before["layer2.0.bn1.running_mean"], after["layer2.0.bn1.running_mean"])
    assert not torch.equal(before["layer3.0.bn2.weight"], after["layer3.0.bn2.weight"])


def test_resnet_norm_eval_keeps_batchnorm_statistics():
    backbone = ResNet(depth=18, norm_eval=True).train()
    assert all(not m.training for m in backbone.modules() if isinstance(m, nn.BatchNorm2d))
    assert backbone.layer4.training
    before = backbone.layer4[1].bn2.running_var.clone()
    backbone(torch.randn(2, 3, 32, 32))
    assert torch.equal(before, backbone.layer4[1].bn2.running_var)


def test_resnet_loads_a_local_checkpoint_with_backbone_prefix(tmp_path):
    source = ResNet(depth=18)
    path = tmp_path / "r18.pth"
    state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    state["head.fc.weight"] = torch.zeros(3, 512)
    torch.save(state, path)
    loaded = ResNet(depth=18, pretrained=str(path))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        ResNet(depth=18, pretrained=str(tmp_path / "nope.pth"))


def test_timm_backbone_returns_final_map_equal_to_forward_features():
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type="TIMMBackbone", model_name="resnet18")).eval()
    reference = timm.create_model("resnet18").eval()
    missing, unexpected = reference.load_state_dict(backbone.timm_model.state_dict(), strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs = backbone(x)
        expected = reference.forward_features(x)
    assert isinstance(outs, tuple) and len(outs) == 1
    assert outs[0].shape == (2, 512, 2, 2) and backbone.out_channels == [512]
    assert torch.allclose(outs[0], expected, atol=1e-5)


def test_timm_backbone_features_only_follows_feature_info():
    backbone = TIMMBackbone("resnet18", features_only=True, out_indices=(1, 3)).eval()
    info = backbone.timm_model.feature_info
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == info.channels() == backbone.out_channels == [64, 256]
    assert [64 // o.shape[-1] for o in outs] == info.reduction() == [4, 16]


def test_timm_backbone_in_channels():
    backbone = TIMMBackbone("resnet18", in_channels=1).eval()
    with torch.no_grad():
        assert backbone(torch.randn(1, 1, 32, 32))[-1].shape == (1, 512, 1, 1)


def test_resnet_mmpretrain_style_init_cfg_loads_a_prefixed_checkpoint(tmp_path):
    source = ResNet(depth=18)
    path = tmp_path / "retriever.pth"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}, path)
    backbone = MODELS.build(dict(type="ResNet", depth=18, init_cfg=dict(
        type="Pretrained", checkpoint=str(path), prefix="backbone")))
    assert not torch.equal(backbone.conv1.weight, source.conv1.weight)
    backbone.init_weights()
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), backbone.state_dict().values()))


def test_resnet_pretrained_true_without_network_explains_options(monkeypatch):
    from imret.models.weights import PretrainedWeightsError

    def offline(self, *args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(PretrainedWeightsError, match="ResNet-18.*name resolution.*local checkpoint"):
        ResNet(depth=18, pretrained=True)
