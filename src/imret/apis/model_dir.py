"""A fine-tuned model folder: ``config.py`` (model + test pipeline) beside ``weights.pth``.

The config names its weights as ``'{{ fileDirname }}/weights.pth'``, so the folder can be moved and
``get_model('DIR/config.py')`` loads the weights in it. ``model_source`` maps a model folder to that
config; ``get_model`` and ``model_provenance`` apply it, so every ``--model`` takes the folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

CONFIG_FILE = "config.py"
WEIGHTS_FILE = "weights.pth"
PROVENANCE_FILE = "provenance.json"
PREPROCESSING_FILE = "preprocessing.json"


def is_model_dir(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` is a folder written by ``imret finetune`` (a config.py and its weights)."""
    folder = Path(path)
    return folder.is_dir() and (folder / CONFIG_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def model_source(name: Union[str, os.PathLike, None]) -> Union[str, None]:
    """``name`` unchanged, or ``DIR/config.py`` when ``name`` is a fine-tuned model folder."""
    if name is not None and not isinstance(name, dict) and is_model_dir(name):
        return str(Path(name) / CONFIG_FILE)
    return name
