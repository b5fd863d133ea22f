"""Data preprocessors and batch augments."""
from .batch_augments import CutMix, Mixup, RandomBatchAugment, sample_beta
from .data_preprocessor import ClsDataPreprocessor, build_batch_augments

__all__ = ["ClsDataPreprocessor", "CutMix", "Mixup", "RandomBatchAugment", "build_batch_augments",
           "sample_beta"]
