"""Necks: feature maps -> feature vectors."""
from .gap import GlobalAveragePooling
from .gem import GeneralizedMeanPooling, generalized_mean

__all__ = ["GlobalAveragePooling", "GeneralizedMeanPooling", "generalized_mean"]
