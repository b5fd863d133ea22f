"""`imret train` / `imret test` options and their failures: exit code 1 and a message naming the input."""
from __future__ import annotations

import pytest
import torch
from engine_fixtures import make_tiny_images, write_tiny_config

from imret.cli.engine_job import parse_cfg_options
from imret.cli.main import build_parser, main
from imret.engine import (EngineConfigError, configure_testing, configure_training, load_config,
                          prepare_cpu_distributed)


@pytest.fixture
def tiny_config(tmp_path):
    return write_tiny_config(tmp_path / "tiny_opts.py", make_tiny_images(tmp_path / "data", 1, 1))


def test_missing_config_exits_1_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.py"
    assert main(["train", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err
    assert main(["test", str(missing), str(tmp_path / "x.pth")]) == 1
    assert str(missing) in capsys.readouterr().err


def test_missing_checkpoint_exits_1_naming_it(tiny_config, tmp_path, capsys):
    missing = tmp_path / "missing.pth"
    assert main(["test", str(tiny_config), str(missing), "--work-dir", str(tmp_path / "w")]) == 1
    assert f"checkpoint {missing} does not exist" in capsys.readouterr().err
    assert main(["train", str(tiny_config), "--resume", str(missing), "--work-dir", str(tmp_path / "w")]) == 1
    assert f"resume checkpoint {missing} does not exist" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_amp_without_gpu_exits_1(tiny_config, tmp_path, capsys):
    assert main(["train", str(tiny_config), "--amp", "--work-dir", str(tmp_path / "w")]) == 1
    assert "--amp needs a CUDA GPU" in capsys.readouterr().err


def test_config_without_training_parts_exits_1(tmp_path, capsys):
    config = tmp_path / "model_only.py"
    config.write_text("model = dict(type='ImageToImageRetriever', image_encoder=dict(type='ResNet', depth=18), "
                      "prototype=None)\n")
    assert main(["train", str(config), "--work-dir", str(tmp_path / "w")]) == 1
    assert "has no `train_dataloader`" in capsys.readouterr().err
    assert main(["test", str(config), str(config), "--work-dir", str(tmp_path / "w")]) == 1
    assert "no `test_dataloader`" in capsys.readouterr().err


def test_broken_config_exits_1(tmp_path, capsys):
    config = tmp_path / "broken.py"
    config.write_text("model = dict(\n")
    assert main(["train", str(config)]) == 1
    assert f"config file {config} could not be read" in capsys.readouterr().err


def test_empty_training_folder_exits_1_naming_it(tmp_path, capsys):
    data = make_tiny_images(tmp_path / "data", 1, 1)
    for image in (data / "train").rglob("*.png"):
        image.unlink()
    config = write_tiny_config(tmp_path / "tiny_empty.py", data)
    assert main(["train", str(config), "--work-dir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert "train_dataloader.dataset" in err and str(data / "train") in err


def test_cfg_options_are_parsed_and_merged(tiny_config):
    args = build_parser().parse_args(["train", str(tiny_config), "--cfg-options", "train_cfg.max_epochs=7",
                                      "optim_wrapper.optimizer.lr=0.5", "model.head.num_classes=5",
                                      "val_evaluator.0.topk=[1,3]"])
    cfg = load_config(args.config, parse_cfg_options(args.cfg_options))
    assert cfg.train_cfg.max_epochs == 7 and cfg.train_cfg.val_interval == 1  # siblings kept
    assert cfg.optim_wrapper.optimizer.lr == 0.5 and cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.model.head.num_classes == 5 and cfg.model.head.in_channels == 512
    assert list(cfg.val_evaluator[0].topk) == [1, 3] and cfg.val_evaluator[0].exclude_self


def test_work_dir_and_resume_options(tiny_config, tmp_path):
    cfg = configure_training(load_config(tiny_config), tiny_config)
    assert cfg.work_dir == "work_dirs/tiny_opts" and not cfg.get("resume", False)
    cfg = configure_training(load_config(tiny_config, {"work_dir": str(tmp_path / "from_cfg")}), tiny_config,
                             resume="auto")
    assert cfg.work_dir == str(tmp_path / "from_cfg") and cfg.resume is True and cfg.load_from is None
    checkpoint = tmp_path / "some.pth"
    torch.save({"state_dict": {}}, checkpoint)
    cfg = configure_training(load_config(tiny_config), tiny_config, work_dir=str(tmp_path / "cli"),
                             resume=str(checkpoint))
    assert cfg.work_dir == str(tmp_path / "cli") and cfg.resume is True and cfg.load_from == str(checkpoint)
    cfg = configure_testing(load_config(tiny_config, {"resume": True}), tiny_config, str(checkpoint))
    assert cfg.load_from == str(checkpoint) and cfg.resume is False


def test_unknown_launcher_is_refused(tiny_config):
    with pytest.raises(EngineConfigError, match="unknown launcher 'ssh'"):
        configure_training(load_config(tiny_config), tiny_config, launcher="ssh")
    with pytest.raises(SystemExit):  # argparse's choices
        build_parser().parse_args(["train", str(tiny_config), "--launcher", "ssh"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU set-up only applies without CUDA")
def test_cpu_distributed_setup(tiny_config, monkeypatch):
    cfg = load_config(tiny_config)
    cfg.launcher = "none"
    prepare_cpu_distributed(cfg)
    assert "model_wrapper_cfg" not in cfg
    cfg.launcher = "pytorch"
    for variable in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(EngineConfigError, match="torchrun --nproc_per_node"):
        prepare_cpu_distributed(cfg)


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_malicious_checkpoint_is_refused_by_imret_test_and_resume(tiny_config, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"epoch": 1, "payload": _RunsShell(marker)}}, evil)
    assert main(["test", str(tiny_config), str(evil), "--work-dir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert f"checkpoint {evil} was refused by weights-only loading" in err and "system" in err
    assert main(["train", str(tiny_config), "--resume", str(evil), "--work-dir", str(tmp_path / "w2")]) == 1
    assert f"checkpoint {evil} was refused" in capsys.readouterr().err
    assert not marker.exists()


def test_no_validate_and_dataloader_flags_reach_the_config(tiny_config, tmp_path, monkeypatch, capsys):
    import imret.engine.runner as runner_module

    built = {}

    def capture(cfg):
        built["cfg"] = cfg
        raise EngineConfigError("stop here")

    monkeypatch.setattr(runner_module, "build_runner", capture)
    assert main(["train", str(tiny_config), "--work-dir", str(tmp_path / "w"), "--no-validate",
                 "--no-pin-memory", "--no-persistent-workers"]) == 1
    cfg = built["cfg"]
    assert cfg.val_dataloader is None and cfg.val_evaluator is None and cfg.val_cfg is None
    loaders = [cfg.train_dataloader, cfg.test_dataloader, cfg.model.prototype]
    assert all(loader.pin_memory is False and loader.persistent_workers is False for loader in loaders)

    built.clear()
    assert main(["train", str(tiny_config), "--work-dir", str(tmp_path / "w")]) == 1
    cfg = built["cfg"]  # without the flags the config's own values stay
    assert cfg.val_dataloader is not None and "pin_memory" not in cfg.train_dataloader
    assert "stop here" in capsys.readouterr().err


def test_a_quiet_imret_logger_keeps_the_engine_log_off_stderr():
    import logging
    import sys

    from imret.cli.engine_job import _log_stream

    logger = logging.getLogger("imret")
    saved = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        assert _log_stream() is sys.stderr
        logger.setLevel(logging.INFO)
        assert _log_stream() is sys.stderr
        logger.setLevel(logging.WARNING)
        stream = _log_stream()
        assert stream is not sys.stderr and stream.write("dropped") == len("dropped")
    finally:
        logger.setLevel(saved)
