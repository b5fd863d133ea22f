"""``ResNet``: torchvision's ResNet body (no pooling, no classifier) returning selected stage outputs."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from mmengine.model import BaseModule
from torch import nn
from torchvision.models import resnet as tv_resnet

from imret.registry import MODELS

from ..weights import PretrainedWeightsError, load_state_dict_file, options_text

#: depth -> (block type, blocks per stage, torchvision weights enum name)
ARCH_SETTINGS: dict[int, tuple[type, tuple[int, ...], str]] = {
    18: (tv_resnet.BasicBlock, (2, 2, 2, 2), "ResNet18_Weights"),
    34: (tv_resnet.BasicBlock, (3, 4, 6, 3), "ResNet34_Weights"),
    50: (tv_resnet.Bottleneck, (3, 4, 6, 3), "ResNet50_Weights"),
    101: (tv_resnet.Bottleneck, (3, 4, 23, 3), "ResNet101_Weights"),
    152: (tv_resnet.Bottleneck, (3, 8, 36, 3), "ResNet152_Weights"),
}


@MODELS.register_module()
class ResNet(BaseModule):
    """ResNet (style 'pytorch': stride on the 3x3 conv) whose forward returns a tuple of stage outputs.

    Parameter names equal torchvision's and mmpretrain's (``conv1``, ``bn1``, ``layer1`` ...), so their
    checkpoints load (mmpretrain's through ``init_cfg=dict(type='Pretrained', prefix='backbone', ...)``).

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: number of input image channels.
        num_stages: how many of the 4 residual stages to build (1-4).
        out_indices: stages (0-based; negative counts from the end) whose outputs are returned.
        frozen_stages: freeze the stem (>= 0) and stages 1..frozen_stages; -1 freezes nothing.
        norm_eval: keep every BatchNorm in eval mode (frozen statistics) while training.
        zero_init_residual: zero the last BN of each block so blocks start as identities.
        pretrained: False, a local checkpoint path (torchvision/mmpretrain-style keys; a ``backbone.``
            prefix and ``fc.*`` are ignored) or True for torchvision's ImageNet weights (network).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, depth: int, in_channels: int = 3, num_stages: int = 4,
                 out_indices: Sequence[int] = (3,), style: str = "pytorch", frozen_stages: int = -1,
                 norm_eval: bool = False, zero_init_residual: bool = True,
                 pretrained: Union[bool, str] = False, init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in ARCH_SETTINGS:
            raise ValueError(f"ResNet depth {depth!r} is not supported; valid depths: {sorted(ARCH_SETTINGS)}")
        if not 1 <= num_stages <= 4:
            raise ValueError(f"ResNet num_stages must be 1-4, got {num_stages}")
        if style != "pytorch":
            raise ValueError(f"ResNet style {style!r} is not supported; only 'pytorch' (stride on the 3x3 conv)")
        if isinstance(out_indices, int):
            out_indices = (out_indices,)
        indices = []
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(f"ResNet out_indices {tuple(out_indices)} out of range for num_stages={num_stages}")
            indices.append(index % num_stages)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f"ResNet frozen_stages must be in -1..{num_stages}, got {frozen_stages}")
        self.depth = depth
        self.num_stages = num_stages
        self.out_indices = tuple(indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        block, layers, _ = ARCH_SETTINGS[depth]
        body = tv_resnet.ResNet(block, list(layers), zero_init_residual=zero_init_residual)
        self.conv1 = body.conv1 if in_channels == 3 else nn.Conv2d(
            in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1, self.relu, self.maxpool = body.bn1, body.relu, body.maxpool
        self.res_layers = [f"layer{i + 1}" for i in range(num_stages)]
        for name in self.res_layers:
            setattr(self, name, getattr(body, name))
        self.out_channels = [64 * 2 ** i * block.expansion for i in range(num_stages)]

        self.pretrained = pretrained
        if pretrained:
            self._load_pretrained(pretrained)
        self._freeze_stages()

    def init_weights(self) -> None:
        """Keep weights loaded from ``pretrained`` (unless an ``init_cfg`` asks otherwise)."""
        if self.pretrained and self.init_cfg is None:
            self._is_init = True
            return
        super().init_weights()

    def _load_pretrained(self, pretrained: Union[bool, str]) -> None:
        if pretrained is True:
            weights = getattr(tv_resnet, ARCH_SETTINGS[self.depth][2]).IMAGENET1K_V1
            try:
                state = weights.get_state_dict(progress=False)
            except Exception as exc:  # network and cache errors
                raise PretrainedWeightsError(
                    f"could not download torchvision's ResNet-{self.depth} weights ({type(exc).__name__}: {exc}). "
                    + options_text()) from exc
            source = f"torchvision {weights}"
        else:
            state = load_state_dict_file(pretrained)
            source = f"checkpoint {pretrained!r}"
        state = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in state.items()}
        own = self.state_dict()
        state = {k: v for k, v in state.items() if k in own}
        missing = sorted(set(own) - set(state))
        if missing:
            raise PretrainedWeightsError(
                f"{source} does not fit ResNet-{self.depth}: {len(missing)} missing tensors, e.g. {missing[:5]}")
        wrong = [k for k in own if own[k].shape != state[k].shape]
        if wrong:
            raise PretrainedWeightsError(
                f"{source}: {wrong[0]!r} has shape {tuple(state[wrong[0]].shape)}, "
                f"ResNet-{self.depth} expects {tuple(own[wrong[0]].shape)}")
        self.load_state_dict(state)

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.conv1, self.bn1] + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> "ResNet":
        """Switch mode, keeping frozen stages (and all BatchNorms when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for index, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)
