"""``TIMMBackbone``: any timm model as a backbone that returns a tuple of feature maps."""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
from mmengine.model import BaseModule

from imret.registry import MODELS

from ..weights import Pretrained, create_timm_model


@MODELS.register_module()
class TIMMBackbone(BaseModule):
    """A timm model without its classifier, returning a tuple of feature maps.

    Args:
        model_name: timm model name, e.g. ``'tf_efficientnet_lite0'`` or ``'resnet50'``.
        features_only: when True, timm's feature extractor returns one map per ``out_indices`` entry
            (pass ``out_indices=(...)`` as a timm keyword); when False, the output is
            ``(forward_features(x),)``: the final (N, C, H, W) map before pooling.
        pretrained: False, True (offline package for ``tf_efficientnet_lite0/1/2`` if installed, else
            timm's hub) or a local checkpoint path (see :mod:`imret.models.weights`).
        checkpoint_path: a local checkpoint path (same as passing a path as ``pretrained``).
        in_channels: number of input image channels.
        init_cfg: mmengine initialisation config.
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``drop_path_rate``, ``out_indices``).
    """

    def __init__(self, model_name: str, features_only: bool = False, pretrained: Pretrained = False,
                 checkpoint_path: str = "", in_channels: int = 3, init_cfg: Optional[Union[dict, list]] = None,
                 **timm_kwargs: Any) -> None:
        super().__init__(init_cfg=init_cfg)
        self.model_name = model_name
        self.features_only = features_only
        if not features_only:
            # No classifier and no pooling: forward_features gives the last feature map.
            timm_kwargs.setdefault("num_classes", 0)
            timm_kwargs.setdefault("global_pool", "")
        self.timm_model, self.weights = create_timm_model(
            model_name, pretrained=pretrained, checkpoint_path=checkpoint_path,
            features_only=features_only, in_chans=in_channels, **timm_kwargs)

    def init_weights(self) -> None:
        """Keep loaded pretrained weights (unless an ``init_cfg`` asks otherwise); else timm's/mmengine's init."""
        if self.weights.source != "none" and self.init_cfg is None:
            self._is_init = True
            return
        super().init_weights()

    @property
    def out_channels(self) -> list[int]:
        """Channels of each returned feature map."""
        if self.features_only:
            return list(self.timm_model.feature_info.channels())
        return [self.timm_model.num_features]

    def provenance(self) -> dict[str, Any]:
        """Where the weights came from (source, path, sha256)."""
        return {"model_name": self.model_name, **self.weights.provenance()}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.features_only:
            return tuple(self.timm_model(x))
        return (self.timm_model.forward_features(x),)
