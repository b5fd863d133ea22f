"""Backbones: image -> tuple of feature maps."""
from .resnet import ResNet
from .timm_backbone import TIMMBackbone

__all__ = ["ResNet", "TIMMBackbone"]
