"""Configs by name (like mim), data roots from $IMRET_DATA_ROOT / --data-root, paths relative to the config."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imret.engine import EngineConfigError, load_config
from imret.engine.config_files import SHIPPED_CONFIG_DIR, resolve_config_path, shipped_config_names

SRC = Path(__file__).resolve().parents[2] / "src"
FLOWERS = "arcface/efficientnet-lite0-arcface_flowers12"


def test_names_resolve_with_or_without_py_or_folder():
    expected = SHIPPED_CONFIG_DIR / f"{FLOWERS}.py"
    assert expected.is_file()
    assert FLOWERS in shipped_config_names() and all("_base_" not in n for n in shipped_config_names())
    for name in (FLOWERS, f"{FLOWERS}.py", "efficientnet-lite0-arcface_flowers12", f"configs/{FLOWERS}.py"):
        assert resolve_config_path(name) == expected


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    local = tmp_path / "arcface" / "efficientnet-lite0-arcface_flowers12.py"
    local.parent.mkdir()
    local.write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path(f"{FLOWERS}.py") == Path(f"{FLOWERS}.py")
    assert resolve_config_path(FLOWERS) == SHIPPED_CONFIG_DIR / f"{FLOWERS}.py"  # no such file: the shipped one


def test_unknown_name_lists_close_names():
    with pytest.raises(EngineConfigError) as caught:
        load_config("arcface/efficientnet-lite0-arcface_flower12")
    message = str(caught.value)
    assert "neither a file nor a config shipped with imret" in message and FLOWERS in message


def test_shipped_data_root_from_environment_or_option(tmp_path, monkeypatch):
    monkeypatch.setenv("IMRET_DATA_ROOT", str(tmp_path / "env_root"))
    cfg = load_config(FLOWERS)
    assert cfg.train_dataloader.dataset.data_root == str(tmp_path / "env_root" / "flowers12")
    assert cfg.model.prototype.dataset.data_root == str(tmp_path / "env_root" / "flowers12")
    cfg = load_config(FLOWERS, data_root=tmp_path / "option_root")
    assert cfg.val_dataloader.dataset.data_root == str(tmp_path / "option_root" / "flowers12")
    assert os.environ["IMRET_DATA_ROOT"] == str(tmp_path / "env_root")  # the option did not leak
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMRET_DATA_ROOT", "relative_root")  # relative to where the command runs
    assert load_config(FLOWERS).train_dataloader.dataset.data_root == str(tmp_path / "relative_root" / "flowers12")
    monkeypatch.delenv("IMRET_DATA_ROOT")
    assert load_config(FLOWERS).train_dataloader.dataset.data_root == str(
        Path("~/imret_data/flowers12").expanduser())


def test_relative_paths_of_a_user_config_follow_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "mine.py").write_text(
        "gallery = dict(type='CustomDataset', data_root='../data/flowers', data_prefix='test')\n"
        "queries = dict(type='QueryGalleryDataset', ann_file='lists/eval.csv', split='query')\n"
        "prefixed = dict(type='CustomDataset', data_prefix=dict(img_path='imgs'))\n"
        "remote = dict(type='CustomDataset', data_root='s3://bucket/data')\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(folder / "mine.py", {"queries.split": "gallery"})
    assert cfg.gallery.data_root == str(tmp_path / "project" / "data" / "flowers")
    assert cfg.gallery.data_prefix == "test"  # joined with data_root by the dataset
    assert cfg.queries.ann_file == str(folder / "lists" / "eval.csv")
    assert cfg.prefixed.data_prefix.img_path == str(folder / "imgs")
    assert cfg.remote.data_root == "s3://bucket/data"


def test_config_by_name_from_another_directory(tmp_path, shared_datasets_root):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    env.pop("IMRET_DATA_ROOT", None)
    # a missing checkpoint is reported after the config was found and read
    result = subprocess.run([sys.executable, "-m", "imret.cli.main", "test", FLOWERS, "missing.pth",
                             "--data-root", str(shared_datasets_root)],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and "checkpoint missing.pth does not exist" in result.stderr, result.stderr
    result = subprocess.run([sys.executable, "-m", "imret.cli.main", "train", "arcface/nope"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "neither a file nor a config shipped with imret" in result.stderr


def test_model_option_takes_a_shipped_config_by_name():
    """`--model arcface/...` (with or without .py) means the shipped config file, as for imret train."""
    from imret.apis.model_provenance import model_provenance

    expected = str((SHIPPED_CONFIG_DIR / f"{FLOWERS}.py").resolve())
    assert model_provenance(FLOWERS)["model"] == expected
    assert model_provenance(f"{FLOWERS}.py")["model"] == expected
    with pytest.raises(KeyError, match="unknown model"):
        model_provenance("arcface/no-such-config")
