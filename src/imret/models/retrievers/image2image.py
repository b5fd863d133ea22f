"""``ImageToImageRetriever``: encode images, rank a prototype gallery by similarity."""
from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence, Union

import torch
from mmengine.model import Sequential
from mmengine.registry import DefaultScope
from torch import nn
from torch.utils.data import DataLoader

from imret.matching import pairwise_similarity, rank_scores, resolve_similarity, similarity_name
from imret.registry import MODELS
from imret.structures import DataSample

from .base import BaseRetriever, PrototypeLike, check_prototype_type
from .checkpoint import load_pretrained
from .prototype_extraction import extract_prototype_vectors
from .prototype_io import load_prototype_vectors, save_prototype_vectors

FORWARD_MODES = ("tensor", "loss", "predict")


def build_module(cfg: Union[nn.Module, dict, Sequence[dict]], what: str) -> nn.Module:
    """A module as given, built from a config dict, or a chain built from a list of configs.

    mmengine's ``Sequential`` (not torch's) so ``init_weights`` reaches each part's ``init_cfg``.
    """
    if isinstance(cfg, nn.Module):
        return cfg
    if isinstance(cfg, dict):
        return MODELS.build(cfg)
    if isinstance(cfg, (list, tuple)) and cfg:
        return Sequential(*[build_module(item, what) for item in cfg])
    raise TypeError(f"{what} must be an nn.Module, a config dict or a non-empty list of config dicts; "
                    f"got {type(cfg).__name__}")


def build_data_preprocessor(data_preprocessor: Optional[Union[dict, nn.Module]],
                            train_cfg: Optional[dict]) -> nn.Module:
    """The data preprocessor (default ``ClsDataPreprocessor``), with ``train_cfg`` batch augments."""
    augments = train_cfg if train_cfg and "augments" in train_cfg else None
    if isinstance(data_preprocessor, nn.Module):
        if augments is not None:
            raise ValueError("train_cfg augments need a data_preprocessor config dict, not a built module")
        return data_preprocessor
    config = dict(data_preprocessor or {})
    config.setdefault("type", "ClsDataPreprocessor")
    if augments is not None:
        config["batch_augments"] = augments
    return MODELS.build(config)


@MODELS.register_module()
class ImageToImageRetriever(BaseRetriever):
    """Supervised image-to-image retriever (mmpretrain-compatible).

    Args:
        image_encoder: backbone (+ necks): a module, a config dict, or a list of config dicts chained.
        prototype: the gallery: a Tensor (M, C), a path to saved vectors, a DataLoader or its config.
        head: module or config with ``loss(feats, data_samples)``; needed only for training.
        pretrained: checkpoint path or URL loaded into the whole retriever.
        similarity_fn: 'cosine_similarity', 'dot_product', 'euclidean' or a callable
            ``(queries (N, C), prototypes (M, C)) -> (N, M)``; larger means more similar.
        train_cfg: ``dict(augments=[...])`` batch augments for training.
        data_preprocessor: config dict (default type ``ClsDataPreprocessor``) or module.
        topk: how many ranked prototype indices ``predict`` returns; -1 for all.
        init_cfg: mmengine initialization config.
    """

    def __init__(self, image_encoder: Union[nn.Module, dict, List[dict]], prototype: PrototypeLike,
                 head: Optional[Union[nn.Module, dict]] = None, pretrained: Optional[str] = None,
                 similarity_fn: Union[str, Callable] = "cosine_similarity", train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None, topk: int = -1,
                 init_cfg: Optional[dict] = None):
        check_prototype_type(prototype)
        resolve_similarity(similarity_fn)
        if not isinstance(topk, int) or isinstance(topk, bool) or (topk < 1 and topk != -1):
            raise ValueError(f"topk must be a positive integer or -1 (all), got {topk!r}")
        super().__init__(prototype=prototype,
                         data_preprocessor=build_data_preprocessor(data_preprocessor, train_cfg),
                         init_cfg=init_cfg)
        self.image_encoder = build_module(image_encoder, "image_encoder")
        self.head = build_module(head, "head") if head is not None else None
        self.similarity = similarity_fn
        self.topk = topk
        self.train_cfg = train_cfg
        self.pretrained = pretrained
        self.register_buffer("prototype_vecs", torch.empty(0, 0), persistent=False)
        if pretrained:
            load_pretrained(self, pretrained)

    def init_weights(self) -> None:
        """Initialize by ``init_cfg``, then (re)load ``pretrained`` so it is not overwritten."""
        super().init_weights()
        if self.pretrained:
            load_pretrained(self, self.pretrained)

    @property
    def similarity_fn(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The function ``(queries, prototypes) -> scores`` in use."""
        return resolve_similarity(self.similarity)

    @property
    def device(self) -> torch.device:
        for tensor in self.parameters():
            return tensor.device
        return self.prototype_vecs.device

    def forward(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None,
                mode: str = "tensor"):
        if mode == "tensor":
            return self.extract_feat(inputs)
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "predict":
            return self.predict(inputs, data_samples)
        raise RuntimeError(f"invalid forward mode {mode!r}; valid modes are {', '.join(FORWARD_MODES)}")

    def extract_feat(self, inputs: torch.Tensor):
        """Encoder output: a tuple of feature tensors (from backbones/necks) or a tensor."""
        return self.image_encoder(inputs)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        if self.head is None:
            raise RuntimeError("this ImageToImageRetriever has no head, so it cannot compute a loss; "
                               "pass head=dict(type='ArcFaceClsHead', ...) (or another head) to train it")
        return self.head.loss(self.extract_feat(inputs), data_samples)

    def _final_features(self, inputs: torch.Tensor) -> torch.Tensor:
        feats = self.extract_feat(inputs)
        return feats[-1] if isinstance(feats, (tuple, list)) else feats

    def matching(self, inputs: torch.Tensor) -> dict:
        """Scores (N, M) of features against every prototype, and the ranked indices / scores."""
        if not self.prototype_inited:
            self.prepare_prototype()
        prototypes = self.prototype_vecs
        if inputs.ndim != 2 or inputs.shape[1] != prototypes.shape[1]:
            raise ValueError(f"feature dimension {inputs.shape[-1]} of the inputs differs from the prototype "
                             f"dimension {prototypes.shape[1]}; the prototype vectors must come from the same "
                             "encoder")
        score = pairwise_similarity(inputs, prototypes, self.similarity)
        pred_score, pred_label = rank_scores(score, self.topk)
        return dict(score=score, pred_score=pred_score, pred_label=pred_label)

    def predict(self, inputs: torch.Tensor, data_samples: Optional[List[DataSample]] = None, **kwargs
                ) -> List[DataSample]:
        """For each input: ``pred_score`` over all prototypes (prototype order), ``pred_label`` ranked."""
        if not self.prototype_inited:
            self.prepare_prototype()
        result = self.matching(self._final_features(inputs))
        scores, labels = result["score"], result["pred_label"]
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.shape[0])]
        for sample, score, label in zip(data_samples, scores, labels):
            sample.set_pred_score(score).set_pred_label(label)
        return data_samples

    def _prototype_loader(self) -> DataLoader:
        if isinstance(self.prototype, DataLoader):
            return self.prototype
        from mmengine.runner import Runner  # the training stack, loaded only for a dataset-config prototype

        import imret.datasets.registration  # noqa: F401  (registers dataset and transform type names)
        with DefaultScope.overwrite_default_scope("imret"):
            return Runner.build_dataloader(self.prototype)

    def prepare_prototype(self) -> None:
        """Build ``prototype_vecs`` (M, C) on the model's device from the prototype, whatever its type."""
        check_prototype_type(self.prototype)
        device = self.device
        if isinstance(self.prototype, torch.Tensor):
            vectors = self.prototype
            if vectors.ndim != 2:
                raise ValueError(f"a prototype tensor must be (num_prototypes, dim); got {tuple(vectors.shape)}")
        elif isinstance(self.prototype, (str, os.PathLike)):
            vectors = load_prototype_vectors(self.prototype)
        else:
            was_training = self.training
            self.eval()
            try:
                vectors = extract_prototype_vectors(
                    self._prototype_loader(), lambda batch: self.data_preprocessor(batch, False),
                    self._final_features, device)
            finally:
                self.train(was_training)
        self.prototype_vecs = vectors.detach().to(device=device, dtype=torch.float32)
        self.prototype_inited = True

    def dump_prototype(self, path: Union[str, os.PathLike]) -> None:
        """Save the prototype vectors: ``.pth`` as a plain tensor, ``.safetensors`` with metadata."""
        if not self.prototype_inited:
            self.prepare_prototype()
        save_prototype_vectors(self.prototype_vecs, path,
                               metadata={"similarity_fn": similarity_name(self.similarity)})
