"""Heads: feature vectors -> class scores and training losses."""
from .arcface_head import ArcFaceClsHead, NormProduct, read_margins
from .cls_head import ClsHead, gather_labels, gather_targets, last_feature
from .linear_head import LinearClsHead

__all__ = ["ArcFaceClsHead", "ClsHead", "LinearClsHead", "NormProduct", "gather_labels", "gather_targets",
           "last_feature", "read_margins"]
