"""imret's checkpoints load with weights-only loading; other pickled code is still refused."""
from __future__ import annotations

import io
import os
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

import imret.engine  # noqa: F401  (installs the allowlist)
from imret.engine import CHECKPOINT_SAFE_GLOBALS, load_checkpoint_file


class _RunsShell:
    """Pickles as a call to os.system: loading it must never run the command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _OldStyleBuffer:
    """Pickles like an unpatched HistoryBuffer would: with a bound function fetched by getattr."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, "mean")


def _pickled_globals(path) -> set:
    """'module name' of every GLOBAL opcode in a torch.save file."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
    return {arg for op, arg, _ in pickletools.genops(data) if op.name == "GLOBAL"}


def _history_buffer() -> HistoryBuffer:
    buffer = HistoryBuffer(max_length=10)
    for value, count in ((1.0, 1), (2.5, 2), (4.0, 1)):
        buffer.update(value, count)
    return buffer


def test_history_buffer_round_trip_with_default_weights_only_load(tmp_path):
    path = tmp_path / "hub.pth"
    torch.save({"log_scalars": {"train/loss": _history_buffer()}}, path)
    loaded = torch.load(path)  # torch 2.14's default: weights_only=True
    buffer = loaded["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_array_equal(buffer._log_history, [1.0, 2.5, 4.0])
    np.testing.assert_array_equal(buffer._count_history, [1, 2, 1])
    assert buffer.max_length == 10
    # statistics are looked up on the class, so they still work after loading
    assert buffer.mean() == pytest.approx(_history_buffer().mean()) == pytest.approx(7.5 / 4)
    assert buffer.current() == 4.0


def test_pickled_buffer_holds_no_functions(tmp_path):
    path = tmp_path / "hub.pth"
    torch.save(_history_buffer(), path)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(str(path)) == []  # all allowlisted
    assert _pickled_globals(path) == {"mmengine.logging.history_buffer HistoryBuffer",
                                      "numpy._core.multiarray _reconstruct", "numpy ndarray", "numpy dtype",
                                      "_codecs encode"}


def test_message_hub_state_with_numpy_values_round_trips(tmp_path):
    hub = MessageHub("imret-test-hub")
    hub.update_scalar("train/loss", 0.5)
    hub.update_scalar("train/loss", 0.25)
    hub.update_info("best_score", np.float64(87.5))
    hub.update_info("counts", np.arange(3, dtype=np.int32))
    hub.update_info("half", np.float16(1.5))
    state = hub.state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"meta": {"epoch": 3}, "message_hub": state, "state_dict": {"w": torch.ones(2)}}, path)

    loaded = _load_checkpoint(str(path), map_location="cpu")  # mmengine's own loader
    restored = MessageHub("imret-test-hub-restored")
    restored.load_state_dict(loaded["message_hub"])
    assert restored.get_scalar("train/loss").mean() == pytest.approx(0.375)
    assert restored.get_info("best_score") == 87.5 and isinstance(restored.get_info("best_score"), np.float64)
    np.testing.assert_array_equal(restored.get_info("counts"), [0, 1, 2])
    assert restored.get_info("counts").dtype == np.int32
    assert restored.get_info("half") == np.float16(1.5)
    assert loaded["meta"]["epoch"] == 3


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": _RunsShell(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(str(path))
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location="cpu")
    assert not marker.exists()


def test_getattr_is_not_allowlisted(tmp_path):
    path = tmp_path / "old.pth"
    torch.save({"fn": _OldStyleBuffer()}, path)
    with pytest.raises(pickle.UnpicklingError, match="getattr"):
        torch.load(path)


def test_allowlist_holds_only_data_types():
    names = set()
    for item in CHECKPOINT_SAFE_GLOBALS:
        obj = item[0] if isinstance(item, tuple) else item
        names.add(getattr(obj, "__module__", "") or "")
    assert names <= {"mmengine.logging.history_buffer", "numpy", "numpy.dtypes", "numpy._core.multiarray"}
    assert os.system not in CHECKPOINT_SAFE_GLOBALS and getattr not in CHECKPOINT_SAFE_GLOBALS
    assert io.open not in CHECKPOINT_SAFE_GLOBALS
