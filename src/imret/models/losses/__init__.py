"""Losses."""
from .cross_entropy_loss import CrossEntropyLoss, reduce_loss, to_soft_target

__all__ = ["CrossEntropyLoss", "reduce_loss", "to_soft_target"]
