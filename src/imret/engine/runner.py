"""Glue between imret's command line and mmengine's ``Runner``: config loading, options, CPU DDP."""
from __future__ import annotations

import copy
import datetime
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from .checkpoint_safety import install_checkpoint_safety
from .checkpoint_files import CheckpointFileError, check_checkpoint_readable, latest_checkpoint
from .config_files import (DATA_ROOT_VARIABLE, ConfigNotFoundError, absolute_data_root_environment,
                           resolve_config_path, resolve_data_paths)

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")
_DDP_WRAPPERS = ("MMDistributedDataParallel", "MMSeparateDistributedDataParallel")


class EngineConfigError(ValueError):
    """A config, checkpoint or command-line option cannot be used; the message says what to do."""


def load_config(path: str | os.PathLike, cfg_options: Optional[Mapping[str, Any]] = None,
                data_root: Optional[str | os.PathLike] = None) -> Config:
    """Read an mmengine Python config (a file, or the name of a shipped config) and apply ``key=value``
    overrides (dotted keys).

    ``data_root`` replaces ``$IMRET_DATA_ROOT`` for this config; relative data paths of the file are
    resolved against its directory (see :mod:`imret.engine.config_files`).
    """
    try:
        config_path = resolve_config_path(path)
    except ConfigNotFoundError as error:
        raise EngineConfigError(str(error)) from None
    environment = absolute_data_root_environment()
    if data_root is not None:
        environment = {DATA_ROOT_VARIABLE: str(Path(data_root).expanduser().absolute())}
    try:
        with _environment(environment):
            cfg = Config.fromfile(str(config_path))
    except Exception as error:  # mmengine raises many kinds for a broken config
        raise EngineConfigError(f"config file {config_path} could not be read: {error}") from error
    resolve_data_paths([cfg[key] for key in cfg.keys()], config_path.parent)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    cfg.setdefault("default_scope", "imret")
    return cfg


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def default_work_dir(config_path: str | os.PathLike) -> str:
    """``work_dirs/<config name>`` (relative to the current directory), as mmpretrain's tools do."""
    return str(Path("work_dirs") / Path(os.fspath(config_path)).name.removesuffix(".py"))


def _readable_checkpoint(path: str | os.PathLike, what: str) -> str:
    try:
        return check_checkpoint_readable(path, what)
    except CheckpointFileError as error:
        raise EngineConfigError(str(error)) from None


DATALOADER_KEYS = ("train_dataloader", "val_dataloader", "test_dataloader")


def _dataloader_configs(cfg: Config) -> list[dict]:
    """The train/val/test dataloader configs and the retriever's prototype loader config, each once."""
    found: list[dict] = []
    for key in DATALOADER_KEYS:
        loader = cfg.get(key)
        if isinstance(loader, dict) and all(loader is not seen for seen in found):
            found.append(loader)
    prototype = cfg.get("model", {}).get("prototype") if isinstance(cfg.get("model"), dict) else None
    if isinstance(prototype, dict) and "dataset" in prototype and all(prototype is not seen for seen in found):
        found.append(prototype)
    return found


def configure_dataloaders(cfg: Config, pin_memory: Optional[bool] = None,
                          persistent_workers: Optional[bool] = None) -> Config:
    """Override ``pin_memory`` / ``persistent_workers`` of every dataloader (None leaves the config's)."""
    for loader in _dataloader_configs(cfg):
        if pin_memory is not None:
            loader["pin_memory"] = pin_memory
        if persistent_workers is not None:
            loader["persistent_workers"] = persistent_workers
    return cfg


def configure_training(cfg: Config, config_path: str | os.PathLike, work_dir: Optional[str] = None,
                       resume: Optional[str] = None, amp: bool = False, auto_scale_lr: bool = False,
                       launcher: str = "none", validate: bool = True) -> Config:
    """Apply the ``imret train`` options to ``cfg``.

    ``resume``: ``None`` starts afresh, ``'auto'`` resumes from the work directory's latest checkpoint
    (or starts afresh when it has none), a path resumes from that checkpoint (weights, optimizer,
    schedulers, epoch). A missing or incomplete checkpoint raises :class:`EngineConfigError`.
    ``validate=False`` trains without validation (mmpretrain's ``--no-validate``).
    """
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config_path)
    cfg.launcher = _check_launcher(launcher)
    if resume == "auto":
        try:
            found = latest_checkpoint(cfg.work_dir)
        except CheckpointFileError as error:
            raise EngineConfigError(str(error)) from None
        cfg.resume = True
        cfg.load_from = _readable_checkpoint(found, "resume checkpoint") if found else None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, _readable_checkpoint(resume, "resume checkpoint")
    if not validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if amp:
        if not torch.cuda.is_available():
            raise EngineConfigError("--amp needs a CUDA GPU (mmengine's AmpOptimWrapper); on CPU train without "
                                    "--amp")
        wrapper = cfg.get("optim_wrapper")
        if wrapper is None:
            raise EngineConfigError("--amp needs an `optim_wrapper` in the config")
        if wrapper.get("type", "OptimWrapper") not in ("OptimWrapper", "AmpOptimWrapper"):
            raise EngineConfigError(f"--amp works with OptimWrapper configs, not {wrapper.get('type')!r}")
        wrapper.type, wrapper.loss_scale = "AmpOptimWrapper", wrapper.get("loss_scale", "dynamic")
    if auto_scale_lr:
        if "auto_scale_lr" not in cfg or "base_batch_size" not in cfg.auto_scale_lr:
            raise EngineConfigError("--auto-scale-lr needs `auto_scale_lr = dict(base_batch_size=N)` in the "
                                    "config (the total batch size its learning rate was tuned for)")
        cfg.auto_scale_lr.enable = True
    return cfg


def configure_testing(cfg: Config, config_path: str | os.PathLike, checkpoint: str,
                      work_dir: Optional[str] = None, launcher: str = "none", show_dir: Optional[str] = None,
                      interval: int = 1) -> Config:
    """Apply the ``imret test`` options to ``cfg``: evaluate ``checkpoint`` with the test loop.

    ``show_dir``: enable the ``VisualizationHook`` (added when the config has none) to write the
    match grid of every ``interval``-th test query into that folder.
    """
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config_path)
    cfg.launcher = _check_launcher(launcher)
    for key in ("test_dataloader", "test_evaluator"):
        if cfg.get(key) is None:
            raise EngineConfigError(f"the config has no `{key}`; `imret test` needs test_dataloader, "
                                    "test_evaluator and test_cfg")
    cfg.load_from = _readable_checkpoint(checkpoint, "checkpoint")
    if show_dir is not None:
        if interval < 1:
            raise EngineConfigError(f"--interval must be >= 1, got {interval}")
        hooks = cfg.get("default_hooks") or {}
        visualization = dict(hooks.get("visualization") or dict(type="VisualizationHook"))
        visualization.update(enable=True, out_dir=str(Path(show_dir).absolute()), interval=interval)
        hooks["visualization"] = visualization
        cfg.default_hooks = hooks
    cfg.resume = False
    cfg.setdefault("test_cfg", dict())
    return cfg


def _check_launcher(launcher: str) -> str:
    if launcher not in LAUNCHERS:
        raise EngineConfigError(f"unknown launcher {launcher!r}; use one of {', '.join(LAUNCHERS)}")
    return launcher


def prepare_cpu_distributed(cfg: Config) -> None:
    """Start the gloo process group and a CPU model wrapper for ``--launcher pytorch`` without CUDA.

    mmengine's own set-up pins one CUDA device per process and hands DDP ``device_ids``; neither
    exists on a CPU machine. With the group already started, mmengine skips its own initialisation.
    """
    if cfg.get("launcher", "none") != "pytorch" or torch.cuda.is_available():
        return
    dist_cfg = dict(cfg.get("env_cfg", {}).get("dist_cfg", {}))
    backend = dist_cfg.pop("backend", "gloo")
    if backend != "gloo":
        warnings.warn(f"dist_cfg backend {backend!r} needs GPUs; using 'gloo' on this CPU-only machine",
                      stacklevel=2)
    timeout = dist_cfg.pop("timeout", None)
    if timeout is not None:
        dist_cfg["timeout"] = datetime.timedelta(seconds=timeout)
    if not dist.is_initialized():
        for variable in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            if variable not in os.environ:
                raise EngineConfigError(f"--launcher pytorch needs the {variable} environment variable; start "
                                        "the command with `torchrun --nproc_per_node=N -m imret.cli.main ...`")
        dist.init_process_group(backend="gloo", **dist_cfg)
    wrapper = dict(cfg.get("model_wrapper_cfg") or {})
    wrapper.setdefault("type", "MMDistributedDataParallel")
    if wrapper["type"] in _DDP_WRAPPERS:
        wrapper.setdefault("find_unused_parameters", cfg.get("find_unused_parameters", False))
        wrapper["device_ids"] = None
    cfg.model_wrapper_cfg = wrapper


def check_datasets(cfg: Config, loader_keys: tuple[str, ...]) -> None:
    """Build the datasets of the named dataloaders once, so bad data paths fail before any work starts."""
    from mmengine.registry import DefaultScope

    from imret.registry import DATASETS

    scope = cfg.get("default_scope", "imret")
    with DefaultScope.overwrite_default_scope(scope):
        for key in loader_keys:
            loader = cfg.get(key)
            if not isinstance(loader, dict) or not isinstance(loader.get("dataset"), dict):
                continue
            try:
                DATASETS.build(copy.deepcopy(loader["dataset"]))
            except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
                raise EngineConfigError(f"{key}.dataset: {error}") from error


def build_runner(cfg: Config) -> Runner:
    """An mmengine ``Runner`` for ``cfg`` that can save, resume and load imret checkpoints."""
    install_checkpoint_safety()
    prepare_cpu_distributed(cfg)
    if "runner_type" in cfg:
        from imret.registry import RUNNERS
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def shutdown_distributed(wait: bool = False) -> None:
    """Leave the process group started for this command, if any.

    ``wait``: first wait until every process got here (after a successful run), so that no process
    tears down its connections while another still finishes its last steps.
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
