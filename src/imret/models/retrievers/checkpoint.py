"""Loading a whole-retriever checkpoint from a path or URL (``pretrained=``)."""
from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Union

import torch
from torch import nn

STATE_DICT_KEYS = ("state_dict", "model", "model_state_dict")


def read_state_dict(source: Union[str, os.PathLike]) -> dict:
    """Tensors of a checkpoint (.pth/.pt/.ckpt with weights_only loading, or .safetensors); path or URL."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        try:
            loaded = torch.hub.load_state_dict_from_url(text, map_location="cpu", weights_only=True)
        except OSError as error:
            raise RuntimeError(
                f"could not download the checkpoint {text} ({error}); without network, download it elsewhere "
                "and pass its local path as pretrained=") from None
    else:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained checkpoint {path} does not exist; pass the path of a .pth or "
                                    ".safetensors checkpoint of this retriever, or a URL when online")
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            # A checkpoint written by `imret train` also holds the runner's message hub; retry with exactly
            # the globals imret's training checkpoints need added to the weights-only allowlist.
            from imret.engine.checkpoint_safety import load_checkpoint_file, refusal_reason
            try:
                loaded = load_checkpoint_file(str(path))
            except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
                raise ValueError(f"pretrained checkpoint {path} could not be read safely (weights-only loading "
                                 f"refused it): {refusal_reason(error)}") from None
        except (RuntimeError, EOFError) as error:
            raise ValueError(f"pretrained checkpoint {path} could not be read safely (weights-only loading "
                             f"refused it): {str(error).splitlines()[0]}") from None
    if isinstance(loaded, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict):
        raise ValueError(f"checkpoint {text} holds a {type(loaded).__name__}, not a state dict")
    return {key[len("module."):] if key.startswith("module.") else key: value
            for key, value in loaded.items() if isinstance(value, torch.Tensor)}


def load_pretrained(model: nn.Module, source: Union[str, os.PathLike]) -> None:
    """Load matching tensors into ``model``; warn about the rest, fail when nothing matches."""
    state = read_state_dict(source)
    own = model.state_dict()
    usable = {key: value for key, value in state.items() if key in own and own[key].shape == value.shape}
    if not usable:
        raise ValueError(f"no tensor of checkpoint {source} matches this model (names or shapes differ); "
                         "was it saved from another architecture?")
    model.load_state_dict(usable, strict=False)
    skipped = sorted(set(state) - set(usable))
    missing = sorted(set(own) - set(usable))
    if skipped or missing:
        warnings.warn(f"pretrained {source}: loaded {len(usable)} tensors; {len(missing)} model tensors kept "
                      f"their initial values (e.g. {missing[:3]}), {len(skipped)} checkpoint tensors unused "
                      f"(e.g. {skipped[:3]})", stacklevel=2)
