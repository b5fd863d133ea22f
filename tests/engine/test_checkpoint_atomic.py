"""Training checkpoints survive a kill while saving; resuming from a missing or broken one is one line."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from engine_fixtures import make_tiny_images, write_tiny_config

from imret.cli.main import main
from imret.engine import CheckpointHook, load_checkpoint_file
from imret.registry import HOOKS

SRC = Path(__file__).resolve().parents[2] / "src"
KEEP_ONE = ["--no-validate", "--cfg-options", "default_hooks.checkpoint.max_keep_ckpts=1",
            "default_hooks.checkpoint.save_best=None"]

# Runs `imret train`, killing itself (SIGKILL) at the moment the finished temporary file of
# epoch_2.pth would be renamed into place: the worst moment for mmengine's own hook, which has
# already deleted epoch_1.pth by then.
KILL_AT_RENAME = textwrap.dedent("""
    import os, signal, sys
    real_replace = os.replace
    def replace(source, target, *args, **kwargs):
        if os.path.basename(os.fspath(target)) == "epoch_2.pth":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(source, target, *args, **kwargs)
    os.replace = replace
    from imret.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
                OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


@pytest.fixture
def tiny(tmp_path):
    data = make_tiny_images(tmp_path / "data", train_per_class=2, test_per_class=1)
    return write_tiny_config(tmp_path / "tiny_ckpt.py", data, max_epochs=2)


def test_config_name_builds_imret_hook():
    hook = HOOKS.build(dict(type="CheckpointHook", interval=1, max_keep_ckpts=1))
    assert isinstance(hook, CheckpointHook)


def test_kill_during_save_keeps_the_previous_checkpoint_and_resume_finishes(tiny, tmp_path):
    work = tmp_path / "work"
    killed = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, "train", str(tiny), "--work-dir", str(work),
                             *KEEP_ONE], capture_output=True, text=True, env=_env(), timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert killed.stdout == "" and "Epoch(train) [1]" in killed.stderr  # train logs to stderr only
    temps = list(work.glob(".epoch_2.pth.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0, "the kill landed after the temp file was written"
    assert not (work / "epoch_2.pth").exists()
    previous = load_checkpoint_file(str(work / "epoch_1.pth"))  # still there, complete and loadable
    assert previous["meta"]["epoch"] == 1
    assert Path((work / "last_checkpoint").read_text().strip()) == work / "epoch_1.pth"

    assert main(["train", str(tiny), "--work-dir", str(work), "--resume", *KEEP_ONE]) == 0
    assert load_checkpoint_file(str(work / "epoch_2.pth"))["meta"]["epoch"] == 2
    assert not (work / "epoch_1.pth").exists(), "max_keep_ckpts=1 still deletes the older one, after the save"
    assert not list(work.glob(".*.tmp")), "the killed save's temp file is cleaned up"


def test_failed_save_deletes_nothing(tiny, tmp_path, monkeypatch):
    work = tmp_path / "work"
    assert main(["train", str(tiny), "--work-dir", str(work), *KEEP_ONE,
                 "train_cfg.max_epochs=1"]) == 0
    real_replace = os.replace

    def failing(source, target, *args, **kwargs):
        if os.path.basename(os.fspath(target)) == "epoch_2.pth":
            raise OSError(28, "No space left on device")
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OSError, match="No space left"):
        main(["train", str(tiny), "--work-dir", str(work), "--resume", *KEEP_ONE])
    assert load_checkpoint_file(str(work / "epoch_1.pth"))["meta"]["epoch"] == 1
    assert not list(work.glob(".*.tmp")) and not (work / "epoch_2.pth").exists()


def _imret(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imret.cli.main", *args], capture_output=True, text=True,
                          env=_env(), timeout=300)


def _one_line_exit_1(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def test_resume_from_broken_or_missing_checkpoint_is_one_line(tiny, tmp_path):
    work = tmp_path / "work"
    assert main(["train", str(tiny), "--work-dir", str(work), *KEEP_ONE, "train_cfg.max_epochs=1"]) == 0
    good = work / "epoch_1.pth"
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    line = _one_line_exit_1(_imret("train", str(tiny), "--work-dir", str(tmp_path / "w2"),
                                   "--resume", str(truncated)))
    assert line.startswith("imret train: error: resume checkpoint") and str(truncated) in line
    assert "not a complete checkpoint" in line

    # the work dir's marker names a checkpoint that is gone, and nothing else is left
    orphan = tmp_path / "orphan"
    orphan.mkdir()
    (orphan / "last_checkpoint").write_text(str(orphan / "epoch_3.pth"))
    line = _one_line_exit_1(_imret("train", str(tiny), "--work-dir", str(orphan), "--resume"))
    assert "epoch_3.pth" in line and "does not exist" in line

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all\n" * 10)
    line = _one_line_exit_1(_imret("test", str(tiny), str(garbage), "--work-dir", str(tmp_path / "w3")))
    assert f"checkpoint {garbage} is not a complete checkpoint" in line


def test_marker_pointing_at_a_missing_file_falls_back_to_the_newest_checkpoint(tmp_path):
    from imret.engine.checkpoint_files import latest_checkpoint

    work = tmp_path / "work"
    work.mkdir()
    assert latest_checkpoint(work) is None
    torch.save({"meta": {"epoch": 1}}, work / "epoch_1.pth")
    shutil.copy(work / "epoch_1.pth", work / "epoch_2.pth")
    os.utime(work / "epoch_1.pth", (1, 1))
    (work / "last_checkpoint").write_text(str(work / "epoch_3.pth"))  # killed while updating the marker
    assert latest_checkpoint(work) == str(work / "epoch_2.pth")
    (work / "last_checkpoint").write_text(str(work / "epoch_1.pth"))
    assert latest_checkpoint(work) == str(work / "epoch_1.pth")
