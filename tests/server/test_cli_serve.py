"""``imret serve`` refuses bad options and indexes with one line and exit code 1, before listening."""
from __future__ import annotations

import subprocess

import pytest

from server_helpers import IMRET


def _serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(IMRET), "serve", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "no index at"),
    (["{missing}", "--workers", "0"], "--workers must be > 0"),
    (["{missing}", "--port", "70000"], "--port must be in 0..65535"),
    (["{missing}", "--cors-origin", "evil.example/path"], "--cors-origin must be"),
    (["{missing}", "--runtime", "tensorflow"], "--runtime must be one of"),
    (["{missing}", "--device", "gpu please"], "--device must look like"),
    (["{not_index}"], "is not a readable imret index"),
])
def test_bad_options_and_indexes_fail_with_one_line(tmp_path, args, message):
    (tmp_path / "not_index").mkdir()
    args = [arg.format(missing=tmp_path / "missing", not_index=tmp_path / "not_index") for arg in args]
    result = _serve(*args)
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imret serve: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_service_options():
    result = subprocess.run([str(IMRET), "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for option in ("--host", "--port", "--workers", "--cors-origin", "--max-upload-mb", "--queue-size",
                   "--runtime", "--device"):
        assert option in result.stdout


def test_default_workers_follow_the_usable_cores(monkeypatch):
    """Two inference threads (overlapping forward passes) where 2+ cores are usable, one on a single core."""
    from imret.server import config

    monkeypatch.setattr("imret.utils.threads.available_cpus", lambda *args: 1)
    assert config.default_workers() == 1 and config.ServerConfig(index_path="x").workers == 1
    monkeypatch.setattr("imret.utils.threads.available_cpus", lambda *args: 2)
    assert config.default_workers() == 2 and config.ServerConfig(index_path="x").workers == 2
    monkeypatch.setattr("imret.utils.threads.available_cpus", lambda *args: 16)
    assert config.ServerConfig(index_path="x").workers == 2
    assert config.ServerConfig(index_path="x", workers=3).workers == 3
