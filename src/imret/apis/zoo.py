"""Named retrieval models: an encoder config together with the preprocessing it was trained with."""
from __future__ import annotations

import copy
import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn

from .provenance import build_provenance, file_sha256

ARCFACE_INSHOP_URL = ("https://download.openmmlab.com/mmclassification/v0/arcface/"
                      "resnet50-arcface_inshop_20230202-b766fe7f.pth")
DEFAULT_MODEL = "efficientnet-lite0_gem"

# Google's EfficientNet-Lite0 was trained on inputs scaled to [-1, 1].
LITE0_PREPROCESSOR = dict(type="ClsDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True)
LITE0_PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="ResizeEdge", scale=256, edge="short", backend="pillow", interpolation="bicubic"),
    dict(type="CenterCrop", crop_size=224),
    dict(type="PackInputs"),
]
IMAGENET_PREPROCESSOR = dict(type="ClsDataPreprocessor", mean=[123.675, 116.28, 103.53],
                             std=[58.395, 57.12, 57.375], to_rgb=True)
INSHOP_PIPELINE = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=600),
    dict(type="CenterCrop", crop_size=448),
    dict(type="PackInputs"),
]


def _lite0_weights() -> Optional[str]:
    from imret.utils.offline_weights import offline_checkpoint_path
    return offline_checkpoint_path("tf_efficientnet_lite0")


@dataclass(frozen=True)
class ZooEntry:
    """A named model: encoder config, preprocessing, and where its pretrained weights come from."""

    name: str
    description: str
    image_encoder: list
    data_preprocessor: dict
    pipeline: list
    dim: int
    # Offline weights file bundled with an installed package (loaded by the backbone itself).
    bundled_weights: Optional[Callable[[], Optional[str]]] = None
    # Whole-retriever checkpoint: a file name looked up in the weights directory, else downloaded.
    checkpoint_url: Optional[str] = None
    extra: dict = field(default_factory=dict)


ZOO: dict[str, ZooEntry] = {}


def _register(entry: ZooEntry) -> None:
    ZOO[entry.name] = entry


_register(ZooEntry(
    name="efficientnet-lite0_gem",
    description="ImageNet EfficientNet-Lite0 (offline weights) + GeM pooling (p=3), 1280-d",
    image_encoder=[dict(type="TIMMBackbone", model_name="tf_efficientnet_lite0", pretrained=True),
                   dict(type="GeneralizedMeanPooling", p=3.0)],
    data_preprocessor=LITE0_PREPROCESSOR, pipeline=LITE0_PIPELINE, dim=1280, bundled_weights=_lite0_weights))
_register(ZooEntry(
    name="efficientnet-lite0_avg",
    description="ImageNet EfficientNet-Lite0 (offline weights) + global average pooling, 1280-d",
    image_encoder=[dict(type="TIMMBackbone", model_name="tf_efficientnet_lite0", pretrained=True),
                   dict(type="GlobalAveragePooling")],
    data_preprocessor=LITE0_PREPROCESSOR, pipeline=LITE0_PIPELINE, dim=1280, bundled_weights=_lite0_weights))
_register(ZooEntry(
    name="resnet50-arcface_inshop",
    description="mmpretrain's ResNet-50 + ArcFace recipe trained on In-Shop clothes, 2048-d "
                "(weights: local file or download)",
    image_encoder=[dict(type="ResNet", depth=50), dict(type="GlobalAveragePooling")],
    data_preprocessor=IMAGENET_PREPROCESSOR, pipeline=INSHOP_PIPELINE, dim=2048,
    checkpoint_url=ARCFACE_INSHOP_URL,
    extra=dict(head=dict(type="ArcFaceClsHead", num_classes=3997, in_channels=2048,
                         loss=dict(type="CrossEntropyLoss", loss_weight=1.0)))))


def list_models(pattern: Optional[str] = None) -> list[str]:
    """Names of the zoo models, optionally filtered by a shell-style pattern (``'*lite0*'``)."""
    names = sorted(ZOO)
    if pattern:
        names = [name for name in names if fnmatch.fnmatch(name, pattern) or pattern in name]
    return names


def weights_dir() -> Path:
    """Where downloaded or hand-placed retriever checkpoints are looked up (``$IMRET_WEIGHTS_DIR``)."""
    configured = os.environ.get("IMRET_WEIGHTS_DIR")
    if configured:
        return Path(configured)
    return Path(torch.hub.get_dir()) / "checkpoints"


def _resolve_checkpoint(entry: ZooEntry) -> str:
    """Local path of ``entry``'s checkpoint, downloading it when missing and the network allows."""
    assert entry.checkpoint_url is not None
    local = weights_dir() / entry.checkpoint_url.rsplit("/", 1)[-1]
    if local.is_file():
        return str(local)
    if os.environ.get("IMRET_OFFLINE"):
        error: Exception = OSError("IMRET_OFFLINE is set")
    else:
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(entry.checkpoint_url, str(local), progress=True)
            return str(local)
        except Exception as caught:  # any network or HTTP failure
            error = caught
    raise FileNotFoundError(
        f"weights of {entry.name!r} are not available offline and could not be downloaded ({error}). "
        f"Download {entry.checkpoint_url} to {local} (or set IMRET_WEIGHTS_DIR), "
        f"or pass pretrained='/path/to/checkpoint.pth'")


def _empty_prototype() -> torch.Tensor:
    # The retriever requires a prototype; the zoo hands back an encoder with no gallery yet.
    return torch.empty(0, 0)


def _model_from_entry(entry: ZooEntry, pretrained: Union[bool, str]) -> tuple[dict, Optional[str]]:
    encoder = copy.deepcopy(entry.image_encoder)
    weights: Optional[str] = None
    if entry.bundled_weights is not None:
        for part in encoder:
            if "pretrained" in part:
                part["pretrained"] = pretrained if isinstance(pretrained, bool) else False
        if pretrained is True:
            weights = entry.bundled_weights()
    config = dict(type="ImageToImageRetriever", image_encoder=encoder,
                  data_preprocessor=copy.deepcopy(entry.data_preprocessor), **copy.deepcopy(entry.extra))
    if isinstance(pretrained, (str, os.PathLike)):
        config["pretrained"] = weights = str(pretrained)
    elif pretrained is True and entry.checkpoint_url is not None:
        config["pretrained"] = weights = _resolve_checkpoint(entry)
    return config, weights


def _model_from_file(path: Path, pretrained: Union[bool, str]) -> tuple[dict, list, Optional[str]]:
    from mmengine.config import Config
    cfg = Config.fromfile(str(path))
    if "model" not in cfg:
        raise ValueError(f"config file {path} has no 'model' entry; it must define model=dict(...)")
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model)
    pipeline = cfg.get("test_pipeline")
    if pipeline is None:
        try:
            pipeline = cfg.test_dataloader.dataset.pipeline
        except AttributeError:
            raise ValueError(f"config file {path} defines neither test_pipeline nor "
                             "test_dataloader.dataset.pipeline; imret needs one to preprocess images") from None
    pipeline = [dict(step) for step in pipeline]
    model_cfg.pop("prototype", None)
    weights = None
    if isinstance(pretrained, (str, os.PathLike)):
        model_cfg["pretrained"] = weights = str(pretrained)
    elif pretrained is False:
        model_cfg.pop("pretrained", None)
    elif isinstance(model_cfg.get("pretrained"), str) and Path(model_cfg["pretrained"]).is_file():
        weights = model_cfg["pretrained"]
    return model_cfg, pipeline, weights


def get_model(name_or_config: Union[str, os.PathLike, dict], pretrained: Union[bool, str] = True,
              device: Optional[Union[str, torch.device]] = None) -> nn.Module:
    """Build a retrieval model in eval mode, ready to encode images.

    ``name_or_config`` is a zoo name (see ``list_models``), a path to an mmengine config file
    (with ``model`` and ``test_pipeline``), or a dict ``{'model': ..., 'pipeline': ...}``.
    ``pretrained``: True loads the model's pretrained weights, False keeps random weights, a path
    loads that checkpoint. The model carries ``zoo_name``, ``pipeline_cfg`` (the test transforms)
    and ``provenance`` (what a gallery encoded with it must match).
    """
    from imret.registry import MODELS
    import imret.models  # noqa: F401  (registers model type names)

    source: Any = name_or_config
    if isinstance(source, dict):
        if "model" not in source or "pipeline" not in source:
            raise ValueError("a model config dict needs 'model' (retriever config) and 'pipeline' (test transforms)")
        model_cfg = copy.deepcopy(dict(source["model"]))
        model_cfg.pop("prototype", None)
        pipeline = copy.deepcopy(list(source["pipeline"]))
        name, weights = str(source.get("name", "custom")), None
        if isinstance(pretrained, (str, os.PathLike)):
            model_cfg["pretrained"] = weights = str(pretrained)
    elif str(source) in ZOO:
        entry = ZOO[str(source)]
        model_cfg, weights = _model_from_entry(entry, pretrained)
        pipeline, name = copy.deepcopy(entry.pipeline), entry.name
    elif str(source).endswith(".py") or Path(str(source)).is_file():
        path = Path(str(source))
        if not path.is_file():
            raise FileNotFoundError(f"model config file {path} does not exist")
        model_cfg, pipeline, weights = _model_from_file(path, pretrained)
        name = str(path.resolve())
    else:
        raise KeyError(f"unknown model {str(source)!r}; known models: {', '.join(list_models())} "
                       "(or pass the path of a config file)")

    model_cfg["prototype"] = _empty_prototype()
    model = MODELS.build(model_cfg)
    model.eval()
    if device is not None:
        model.to(device)
    # The weights are identified by their hash, not by where the file happens to be.
    stored_cfg = {key: value for key, value in model_cfg.items() if key not in ("prototype", "pretrained")}
    model.zoo_name = name
    model.pipeline_cfg = pipeline
    model.provenance = build_provenance(
        name=name, encoder=stored_cfg, pipeline=pipeline,
        weights_sha256=file_sha256(weights) if weights and Path(weights).is_file() else None)
    return model
