"""Two-process (gloo, CPU) training through `torchrun ... imret train --launcher pytorch`, then resume."""
from __future__ import annotations

import json
import re

import pytest
import torch
from engine_fixtures import make_tiny_images, run_torchrun, write_tiny_config

import imret.engine  # noqa: F401  (allowlists the globals imret's checkpoints hold)
from imret.cli.main import main

pytestmark = pytest.mark.slow


def _val_metrics(log: str) -> list[dict]:
    """The metric lines of every validation in a run's log, in order."""
    found = []
    for line in log.splitlines():
        if "Epoch(val)" in line and "retrieval/Recall@1:" in line:
            found.append({key: float(value) for key, value in
                          re.findall(r"(retrieval/[\w@]+): ([\d.]+)", line)})
    return found


def _detail(result) -> str:
    return f"exit {result.returncode}\nstdout tail:\n{result.stdout[-3000:]}\nstderr tail:\n{result.stderr[-3000:]}"


def test_two_process_gloo_training_validates_and_resumes(tmp_path, capsys):
    data = make_tiny_images(tmp_path / "data")
    config = write_tiny_config(tmp_path / "tiny_ddp.py", data, max_epochs=1)
    work_dir = tmp_path / "work"

    first = run_torchrun(["train", str(config), "--work-dir", str(work_dir), "--launcher", "pytorch"])
    assert first.returncode == 0, _detail(first)
    log = first.stdout + first.stderr
    assert "Distributed training: True" in log
    assert re.search(r"Epoch\(train\) \[1\]\[3/3\]", log), "24 images / (2 ranks x 4) = 3 iterations per epoch"
    validations = _val_metrics(log)
    assert len(validations) == 1, log[-3000:]
    assert set(validations[0]) == {"retrieval/Recall@1", "retrieval/Recall@2", "retrieval/mAP"}

    checkpoint = torch.load(work_dir / "epoch_1.pth")  # default weights-only loading
    assert checkpoint["meta"]["epoch"] == 1 and checkpoint["meta"]["iter"] == 3
    assert not any(key.startswith("module.") for key in checkpoint["state_dict"])
    best = list(work_dir.glob("best_retrieval_Recall@1_epoch_1.pth"))
    assert len(best) == 1


    # resume for two more epochs: validation after each, the gallery re-extracted before each
    second = run_torchrun(["train", str(config), "--work-dir", str(work_dir), "--launcher", "pytorch",
                           "--resume", "--cfg-options", "train_cfg.max_epochs=3"])
    assert second.returncode == 0, _detail(second)
    log = second.stdout + second.stderr
    assert "resumed epoch: 1, iter: 3" in log
    assert "Epoch(train) [1]" not in log
    assert re.search(r"Epoch\(train\) \[2\]\[3/3\]", log) and re.search(r"Epoch\(train\) \[3\]\[3/3\]", log)
    validations = _val_metrics(log)
    assert len(validations) == 2
    resumed = torch.load(work_dir / "epoch_3.pth")
    assert resumed["meta"]["epoch"] == 3 and resumed["meta"]["iter"] == 9
    # the step schedule resumed too: the learning rate halved after epoch 1
    assert resumed["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.005)

    # `imret test` of the last checkpoint in one process scores what the last validation logged: the
    # gallery was re-extracted with the final weights (not kept from epoch 2), and both processes
    # validated with the weights the checkpoint holds
    capsys.readouterr()
    assert main(["test", str(config), str(work_dir / "epoch_3.pth"), "--work-dir", str(tmp_path / "t3"),
                 "--json"]) == 0
    tested = json.loads(capsys.readouterr().out)  # stdout holds the metrics alone
    for key, value in validations[-1].items():
        assert tested[key] == pytest.approx(value, abs=1e-3), (key, tested, validations)
