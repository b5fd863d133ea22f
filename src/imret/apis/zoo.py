"""Named retrieval models and ``get_model``: zoo names, config files (+ checkpoint) and export bundles."""
from __future__ import annotations

import copy
import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

from imret.utils.shipped_configs import shipped_config

from .preprocessing import Preprocessing, timm_preprocessing
from .provenance import build_provenance, file_sha256
from .retrieval_model import RetrievalModel

ARCFACE_INSHOP_URL = ("https://download.openmmlab.com/mmclassification/v0/arcface/"
                      "resnet50-arcface_inshop_20230202-b766fe7f.pth")
DEFAULT_MODEL = "efficientnet-lite0_gem"

# EfficientNet-Lite0's preprocessing comes from timm's pretrained config of this tag.
LITE0_TIMM_CONFIG = "tf_efficientnet_lite0.in1k"
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
    dim: int
    # Preprocessing: timm's pretrained config of this tag, else the two fields below.
    timm_config: Optional[str] = None
    data_preprocessor: Optional[dict] = None
    pipeline: Optional[list] = None
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
    timm_config=LITE0_TIMM_CONFIG, dim=1280, bundled_weights=_lite0_weights))
_register(ZooEntry(
    name="efficientnet-lite0_avg",
    description="ImageNet EfficientNet-Lite0 (offline weights) + global average pooling, 1280-d",
    image_encoder=[dict(type="TIMMBackbone", model_name="tf_efficientnet_lite0", pretrained=True),
                   dict(type="GlobalAveragePooling")],
    timm_config=LITE0_TIMM_CONFIG, dim=1280, bundled_weights=_lite0_weights))
_register(ZooEntry(
    name="resnet50-arcface_inshop",
    description="mmpretrain's ResNet-50 + ArcFace recipe trained on In-Shop clothes, 2048-d "
                "(weights: local file or download)",
    image_encoder=[dict(type="ResNet", depth=50), dict(type="GlobalAveragePooling")],
    data_preprocessor=IMAGENET_PREPROCESSOR, pipeline=INSHOP_PIPELINE, dim=2048,
    checkpoint_url=ARCFACE_INSHOP_URL,
    extra=dict(head=dict(type="ArcFaceClsHead", num_classes=3997, in_channels=2048,
                         loss=dict(type="CrossEntropyLoss", loss_weight=1.0)))))


def entry_preprocessing(entry: ZooEntry) -> tuple[list, dict]:
    """(test pipeline, data_preprocessor config) of a zoo entry."""
    if entry.timm_config is not None:
        return timm_preprocessing(entry.timm_config)
    assert entry.pipeline is not None and entry.data_preprocessor is not None
    return copy.deepcopy(entry.pipeline), copy.deepcopy(entry.data_preprocessor)


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
    import torch
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
            import torch
            local.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(entry.checkpoint_url, str(local), progress=True)
            return str(local)
        except Exception as caught:  # any network or HTTP failure
            error = caught
    raise FileNotFoundError(
        f"weights of {entry.name!r} are not available offline and could not be downloaded ({error}). "
        f"Download {entry.checkpoint_url} to {local} (or set IMRET_WEIGHTS_DIR), "
        f"or pass pretrained='/path/to/checkpoint.pth'")


def _empty_prototype() -> Any:
    # The retriever requires a prototype; the zoo hands back an encoder with no gallery yet.
    import torch
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
                  data_preprocessor=entry_preprocessing(entry)[1], **copy.deepcopy(entry.extra))
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
    # As mmengine's Runner does: the config's top-level data_preprocessor applies unless the model has one.
    top_level = cfg.get("data_preprocessor")
    if model_cfg.get("data_preprocessor") is None and top_level is not None:
        model_cfg["data_preprocessor"] = top_level.to_dict() if hasattr(top_level, "to_dict") else dict(top_level)
    weights = None
    if isinstance(pretrained, (str, os.PathLike)):
        model_cfg["pretrained"] = weights = str(pretrained)
    elif pretrained is False:
        model_cfg.pop("pretrained", None)
    elif isinstance(model_cfg.get("pretrained"), str) and Path(model_cfg["pretrained"]).is_file():
        weights = model_cfg["pretrained"]
    return model_cfg, pipeline, weights


def resolve_model_config(name_or_config: Union[str, os.PathLike, dict], pretrained: Union[bool, str]
                         ) -> tuple[dict, list, Optional[str], str]:
    """(retriever config, test pipeline, weights file or None, name) of a zoo name, config file or dict."""
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
        pipeline, name = entry_preprocessing(entry)[0], entry.name
    else:
        path: Optional[Path] = Path(str(source))
        if not path.is_file():
            path = shipped_config(str(source))  # a config shipped with imret, by name
        if path is None:
            if str(source).endswith(".py"):
                raise FileNotFoundError(f"model config file {source} does not exist")
            raise KeyError(f"unknown model {str(source)!r}; known models: {', '.join(list_models())} "
                           "(or pass the path of a config file or of a bundle made by imret export)")
        model_cfg, pipeline, weights = _model_from_file(path, pretrained)
        name = str(path.resolve())
    if isinstance(pretrained, (str, os.PathLike)) and "://" not in str(pretrained) and not Path(pretrained).is_file():
        raise FileNotFoundError(f"checkpoint {pretrained} does not exist; pass the path of a weights file")
    return model_cfg, pipeline, weights, name


def config_provenance(model_cfg: dict, pipeline: list, weights: Optional[str], name: str) -> dict:
    """The provenance of a model built from ``model_cfg``; the weights count by their hash, not their path."""
    stored_cfg = {key: value for key, value in model_cfg.items() if key not in ("prototype", "pretrained")}
    local = bool(weights) and Path(weights).is_file()
    return build_provenance(name=name, encoder=stored_cfg, pipeline=pipeline,
                            weights_sha256=file_sha256(weights) if local else None,
                            weights_file=str(Path(weights).resolve()) if local and name.endswith(".py") else None)


def check_bundle_dir(path: Union[str, os.PathLike]) -> None:
    """Raise ``BundleError`` when the folder ``path`` is not a bundle written by ``imret export``."""
    from imret.runtimes import BundleError, is_bundle

    if not is_bundle(path):
        raise BundleError(f"{path} is a folder but not an imret export bundle (no manifest.json) and not a "
                          "fine-tuned model folder (config.py + weights.pth); create one with: "
                          "imret export MODEL --out DIR, or imret finetune")


def model_folder_source(name_or_config: Any) -> Any:
    """``name_or_config`` unchanged, or ``DIR/config.py`` when it is a fine-tuned model folder."""
    from .model_dir import model_source
    return name_or_config if isinstance(name_or_config, dict) else model_source(name_or_config)


def build_module(model_cfg: dict) -> Any:
    """The retriever module of ``model_cfg`` (weights loaded), in eval mode on CPU."""
    from imret.registry import MODELS
    import imret.models  # noqa: F401  (registers model type names)

    module = MODELS.build(dict(copy.deepcopy(model_cfg), prototype=_empty_prototype()))
    module.eval()
    return module


def get_model(name_or_config: Union[str, os.PathLike, dict], pretrained: Union[bool, str] = True,
              device: Optional[Any] = None, runtime: str = "auto") -> RetrievalModel:
    """A retrieval model ready to encode images.

    ``name_or_config`` is a zoo name (see ``list_models``), a path to an mmengine config file
    (with ``model`` and a test pipeline; its top-level ``data_preprocessor`` applies), a dict
    ``{'model': ..., 'pipeline': ...}``, a fine-tuned model folder written by ``imret finetune`` or a
    bundle folder written by ``imret export``.
    ``pretrained``: True loads the model's pretrained weights, False keeps random weights, a path
    loads that checkpoint (e.g. one written by ``imret train``; read weights-only).
    ``runtime``: 'auto' (the fastest installed runtime for the device), 'torch', 'onnxruntime' or
    'openvino'. ``device``: 'cpu', 'cuda', 'cuda:N', ... (default: cuda when available).
    The torch module is built only when needed: for the torch runtime, to export the ONNX graph when
    it is not cached yet, or when ``.module`` is read.
    Raises ``RuntimeSelectionError`` for an unknown or unavailable runtime or device.
    """
    from imret.runtimes import EncoderSource, create_runtime
    from imret.runtimes.devices import check_device

    device = check_device(None if device is None else str(device))
    name_or_config = model_folder_source(name_or_config)
    if not isinstance(name_or_config, dict) and Path(str(name_or_config)).is_dir():
        check_bundle_dir(name_or_config)
        from .bundle_model import bundle_model
        return bundle_model(name_or_config, runtime=runtime, device=device)
    from imret.runtimes.registry import resolve_runtime
    resolve_runtime(runtime, device, EncoderSource(module=object()))  # bad names fail before any model loads
    model_cfg, pipeline, weights, name = resolve_model_config(name_or_config, pretrained)
    preprocessor = model_cfg.get("data_preprocessor")
    preprocessing = Preprocessing.from_configs(pipeline, preprocessor if isinstance(preprocessor, dict) else None)
    provenance = config_provenance(model_cfg, pipeline, weights, name)

    def onnx_path() -> Path:
        from imret.runtimes.onnx_export import cached_onnx
        # a module handed out to a caller may have been trained or edited since: key by its tensors then
        return cached_onnx(None, provenance, preprocessing.input_size, load_module=lambda: source.module,
                           by_provenance=not source.module_handed_out)

    source = EncoderSource(load_module=lambda: build_module(model_cfg), onnx_path=onnx_path)
    encoder = create_runtime(source, runtime=runtime, device=device, defer=True)
    return RetrievalModel(name=name, preprocessing=preprocessing, provenance=provenance, runtime=encoder,
                          similarity=model_cfg.get("similarity_fn", "cosine_similarity"), source=source)
