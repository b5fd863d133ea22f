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


def _require_file(path: str | os.PathLike, what: str) -> str:
    if not Path(path).is_file():
        raise EngineConfigError(f"{what} {path} does not exist; pass the path of a .pth checkpoint written by "
                                "`imret train` (see its work directory)")
    return str(path)


def configure_training(cfg: Config, config_path: str | os.PathLike, work_dir: Optional[str] = None,
                       resume: Optional[str] = None, amp: bool = False, auto_scale_lr: bool = False,
                       launcher: str = "none") -> Config:
    """Apply the ``imret train`` options to ``cfg``.

    ``resume``: ``None`` starts afresh, ``'auto'`` resumes from the work directory's latest checkpoint,
    a path resumes from that checkpoint (weights, optimizer, schedulers, epoch).
    """
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config_path)
    cfg.launcher = _check_launcher(launcher)
    if resume == "auto":
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, _require_file(resume, "resume checkpoint")
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
                      work_dir: Optional[str] = None, launcher: str = "none") -> Config:
    """Apply the ``imret test`` options to ``cfg``: evaluate ``checkpoint`` with the test loop."""
    cfg.work_dir = work_dir or cfg.get("work_dir") or default_work_dir(config_path)
    cfg.launcher = _check_launcher(launcher)
    cfg.load_from = _require_file(checkpoint, "checkpoint")
    cfg.resume = False
    for key in ("test_dataloader", "test_evaluator"):
        if cfg.get(key) is None:
            raise EngineConfigError(f"the config has no `{key}`; `imret test` needs test_dataloader, "
                                    "test_evaluator and test_cfg")
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
