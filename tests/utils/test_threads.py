"""Thread settings: cores from affinity and cgroup quota, user settings win, runtime options are accepted."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from imret.utils import threads


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_caps_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores -> 2
    assert threads.available_cpus(str(tmp_path)) == min(_affinity(), 2)
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # half a core -> still 1 thread
    assert threads.available_cpus(str(tmp_path)) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.available_cpus(str(tmp_path)) == _affinity()


def test_cgroup_v1_quota_and_no_cgroup(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.available_cpus(str(tmp_path)) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.available_cpus(str(tmp_path)) == _affinity()
    assert threads.available_cpus(str(tmp_path / "missing")) == _affinity()


def test_imret_num_threads(monkeypatch):
    monkeypatch.setenv("IMRET_NUM_THREADS", "3")
    assert threads.default_num_threads() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("IMRET_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="IMRET_NUM_THREADS"):
            threads.default_num_threads()


def test_cli_applies_settings_before_torch_loads_and_keeps_the_users():
    """In a fresh interpreter: unset variables get imret's values, set ones stay, torch and faiss follow."""
    code = (
        "import os, sys\n"
        "from imret.cli.main import main\n"
        "main(['models', '--json'])\n"
        "import faiss, torch\n"
        "print('RESULT', os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'], os.environ['KMP_BLOCKTIME'],"
        " os.environ['OMP_NUM_THREADS'], torch.get_num_threads(), faiss.omp_get_max_threads())\n")
    unset = {*threads.PASSIVE_WAIT_ENV, *threads.THREAD_COUNT_ENV, "IMRET_NUM_THREADS"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["GOMP_SPINCOUNT"] = "1000"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    assert line, out.stderr
    policy, spin, blocktime, omp, torch_threads, faiss_threads = line[0].split()[1:]
    cores = threads.available_cpus()
    assert (policy, spin, blocktime, omp) == ("PASSIVE", "1000", "0", str(cores))
    assert int(torch_threads) == cores and int(faiss_threads) == cores

    env["IMRET_NUM_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    assert line[0].split()[4:] == ["1", "1", "1"]


def test_configure_threads_sets_loaded_libraries(monkeypatch):
    import faiss
    import torch

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.setenv(name, "keep")
    before = (torch.get_num_threads(), faiss.omp_get_max_threads())
    try:
        assert threads.configure_threads(1) == 1
        assert torch.get_num_threads() == 1 and faiss.omp_get_max_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "keep"
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


def test_ort_session_options_run_a_model_without_spinning():
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    import numpy as np
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = threads.ort_session_options(2)
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": np.array([[-1.0, 0.0, 2.0]], np.float32)})[0]
    assert out.tolist() == [[0.0, 0.0, 2.0]]


def test_openvino_config_is_accepted_by_the_cpu_plugin():
    ov = pytest.importorskip("openvino")
    import numpy as np

    from openvino import opset13

    x = opset13.parameter([1, 3], np.float32, name="x")
    relu = opset13.relu(x)
    model = ov.Model([relu], [x], "relu")
    compiled = ov.Core().compile_model(model, "CPU", threads.openvino_config(1))
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 1
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    out = compiled(np.array([[-1.0, 0.0, 2.0]], np.float32))[0]
    assert out.tolist() == [[0.0, 0.0, 2.0]]


def test_limit_threads_only_lowers(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("IMRET_NUM_THREADS", "1")
    monkeypatch.setitem(threads._configured, "threads", None)
    try:
        torch.set_num_threads(2)
        assert threads.limit_threads() == 1
        assert torch.get_num_threads() == 1  # lowered to the limit
        monkeypatch.setenv("IMRET_NUM_THREADS", "4")
        assert threads.limit_threads() == 4
        assert torch.get_num_threads() == 1  # a count below the limit is the caller's choice: kept
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("numpy_first", [False, True])
def test_numpy_blas_runs_one_thread_per_product_only_when_imret_configures_first(numpy_first):
    """Configured before numpy loads: its BLAS gets one thread and the numpy engine spreads blocks over
    the cores; numpy already loaded (its BLAS threads fixed): the engine stays on the caller's thread."""
    code = ("import numpy\n" if numpy_first else "") + (
        "import os\n"
        "from imret.utils.threads import configure_threads, array_engine_workers\n"
        "configure_threads(3)\n"
        "print('RESULT', os.environ['OPENBLAS_NUM_THREADS'], array_engine_workers())\n")
    env = {k: v for k, v in os.environ.items() if k not in {*threads.THREAD_COUNT_ENV, "IMRET_NUM_THREADS"}}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
    assert line, out.stderr
    assert line[0].split()[1:] == (["3", "1"] if numpy_first else ["1", "3"])
