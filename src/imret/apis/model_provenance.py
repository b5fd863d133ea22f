"""The provenance of a model (what decides its vectors), computed without building the network.

``imret index`` compares it with the index's before deciding whether anything needs encoding, so an
unchanged gallery never pays for loading a model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .provenance import build_provenance, file_sha256
from .zoo import ZOO, _model_from_entry, _model_from_file, entry_preprocessing, list_models


def model_provenance(name_or_config: Union[str, os.PathLike], pretrained: Union[bool, str] = True) -> dict:
    """What ``get_model(name_or_config, pretrained).provenance`` would be, without building the model.

    ``name_or_config`` is a zoo name, the path of a config file or an export bundle folder. Raises
    like ``get_model`` does: ``KeyError`` for an unknown name, ``FileNotFoundError`` for a missing
    config file, ``BundleError`` for a folder that is no valid bundle.
    """
    source = str(name_or_config)
    if Path(source).is_dir():
        from imret.runtimes import BundleError, is_bundle, read_bundle

        if not is_bundle(source):
            raise BundleError(f"{source} is a folder but not an imret export bundle (no manifest.json); "
                              "create one with: imret export MODEL --out DIR")
        return read_bundle(source).provenance
    if source in ZOO:
        entry = ZOO[source]
        model_cfg, weights = _model_from_entry(entry, pretrained)
        pipeline, name = entry_preprocessing(entry)[0], entry.name
    elif source.endswith(".py") or Path(source).is_file():
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"model config file {path} does not exist")
        model_cfg, pipeline, weights = _model_from_file(path, pretrained)
        name = str(path.resolve())
    else:
        raise KeyError(f"unknown model {source!r}; known models: {', '.join(list_models())} "
                       "(or pass the path of a config file or of a bundle made by imret export)")
    stored_cfg = {key: value for key, value in model_cfg.items() if key not in ("prototype", "pretrained")}
    return build_provenance(name=name, encoder=stored_cfg, pipeline=pipeline,
                            weights_sha256=file_sha256(weights) if weights and Path(weights).is_file() else None)
