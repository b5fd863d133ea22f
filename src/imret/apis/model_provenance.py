"""The provenance of a model (what decides its vectors), computed without building the network.

``imret index`` compares it with the index's before deciding whether anything needs encoding, so an
unchanged gallery never pays for loading a model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from .zoo import check_bundle_dir, config_provenance, model_folder_source, resolve_model_config


def model_provenance(name_or_config: Union[str, os.PathLike], pretrained: Union[bool, str] = True) -> dict:
    """What ``get_model(name_or_config, pretrained).provenance`` would be, without building the model.

    ``name_or_config`` is a zoo name, the path of a config file, a fine-tuned model folder or an export
    bundle folder. Raises
    like ``get_model`` does: ``KeyError`` for an unknown name, ``FileNotFoundError`` for a missing
    config file, ``BundleError`` for a folder that is no valid bundle.
    """
    source = str(model_folder_source(name_or_config))
    if Path(source).is_dir():
        from imret.runtimes import read_bundle

        check_bundle_dir(source)
        return read_bundle(source).provenance
    return config_provenance(*resolve_model_config(source, pretrained))
