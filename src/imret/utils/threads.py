"""Thread counts and waiting policies for the numeric libraries, so a busy machine slows imret down
proportionally instead of collapsing.

On an oversubscribed CPU, OpenMP workers that spin while waiting for each other (the default of
libgomp and Intel's runtime) burn the time slices the working threads need. imret therefore asks
every runtime to wait passively (sleep) and never to start more threads than the cores this process
may actually use (CPU affinity and the cgroup quota of a container), unless the user has chosen
otherwise through the usual environment variables or ``IMRET_NUM_THREADS``.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Optional

#: Environment settings read by the OpenMP runtimes when they load; applied only where unset.
PASSIVE_WAIT_ENV = {
    "OMP_WAIT_POLICY": "PASSIVE",  # libgomp and Intel OpenMP: sleep instead of spinning
    "GOMP_SPINCOUNT": "0",         # libgomp: no spinning before sleeping
    "KMP_BLOCKTIME": "0",          # Intel OpenMP (MKL builds): no spinning before sleeping
}
#: Thread-count variables of the BLAS/OpenMP runtimes; set to the available cores where unset.
THREAD_COUNT_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: numpy's BLAS thread count: one thread per product when imret configures the process first.
NUMPY_BLAS_ENV = "OPENBLAS_NUM_THREADS"

_configured: dict = {}


def _cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> Optional[float]:
    """Cores granted by the cgroup CPU quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), None when unlimited."""
    try:
        with open(os.path.join(root, "cpu.max")) as handle:
            quota, period = (handle.read().split() + ["100000"])[:2]
        if quota != "max" and float(period) > 0:
            return float(quota) / float(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as handle:
            quota_us = float(handle.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as handle:
            period_us = float(handle.read())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """Cores this process may run on: its CPU affinity, capped by the cgroup CPU quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit(cgroup_root)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def default_num_threads() -> int:
    """Threads per library: ``$IMRET_NUM_THREADS`` when set to a positive integer, else ``available_cpus()``."""
    configured = os.environ.get("IMRET_NUM_THREADS", "").strip()
    if configured:
        try:
            value = int(configured)
        except ValueError:
            raise ValueError(f"IMRET_NUM_THREADS must be a positive integer, got {configured!r}") from None
        if value < 1:
            raise ValueError(f"IMRET_NUM_THREADS must be a positive integer, got {configured!r}")
        return value
    return available_cpus()


def configure_threads(num_threads: Optional[int] = None) -> int:
    """Apply imret's thread settings; returns the thread count used. Safe to call more than once.

    Sets the OpenMP waiting policy and thread counts in the environment (only variables the user has
    not set; they take effect for libraries loaded afterwards, so call this before importing torch or
    faiss), and sets the counts of torch and FAISS when they are already loaded.
    """
    threads = num_threads if num_threads is not None else default_num_threads()
    for name, value in PASSIVE_WAIT_ENV.items():
        os.environ.setdefault(name, value)
    if "numpy" not in sys.modules:
        # numpy's OpenBLAS threads spin while they wait (measured here under 2x oversubscription: a
        # 2-thread product kept 0.35x of its quiet speed, one thread 0.9x); imret's numpy engine
        # runs its blocks on threads of its own instead (:func:`array_engine_workers`)
        os.environ.setdefault(NUMPY_BLAS_ENV, "1")
    for name in THREAD_COUNT_ENV:
        os.environ.setdefault(name, str(threads))
    _configured["threads"] = threads
    configure_loaded_libraries(threads)
    return threads


def limit_threads() -> int:
    """The library-side form of :func:`configure_threads` (for ``get_model``'s runtimes and the server).

    Applies the same environment defaults, but only lowers the thread counts of an already loaded
    torch or FAISS to the cores available, never raising a count the caller chose.
    """
    threads = _configured.get("threads") or default_num_threads()
    for name, value in PASSIVE_WAIT_ENV.items():
        os.environ.setdefault(name, value)
    for name in THREAD_COUNT_ENV:
        os.environ.setdefault(name, str(threads))
    configure_loaded_libraries(threads, only_lower=True)
    return threads


def array_engine_workers() -> int:
    """Threads the numpy matching engine may spread its blocks over: the configured thread count when
    numpy's BLAS runs one thread per product (``OPENBLAS_NUM_THREADS=1``), else 1 (the BLAS then
    parallelises each product itself, and more callers would only compete for the same cores)."""
    if os.environ.get(NUMPY_BLAS_ENV, "").strip() != "1":
        return 1
    return _configured.get("threads") or default_num_threads()


def configure_loaded_libraries(num_threads: Optional[int] = None, only_lower: bool = False) -> None:
    """Set the intra-op thread counts of torch and FAISS, for whichever of them is already imported
    (with ``only_lower``, only counts above ``num_threads`` change)."""
    threads = num_threads or _configured.get("threads") or default_num_threads()
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        current = torch.get_num_threads()
        if current != threads and not (only_lower and current < threads):
            torch.set_num_threads(threads)
        try:
            if torch.get_num_interop_threads() > threads:
                torch.set_num_interop_threads(threads)
        except RuntimeError:  # only allowed before the first inter-op parallel work
            pass
    faiss = sys.modules.get("faiss")
    if faiss is not None and hasattr(faiss, "omp_set_num_threads"):
        if not (only_lower and faiss.omp_get_max_threads() < threads):
            faiss.omp_set_num_threads(threads)


def ort_session_options(num_threads: Optional[int] = None):
    """``onnxruntime.SessionOptions`` with imret's thread settings: capped intra-op threads, no spinning."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads or _configured.get("threads") or default_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def openvino_config(num_threads: Optional[int] = None, streams: int = 1) -> dict:
    """OpenVINO CPU plugin properties (for ``Core.compile_model(..., config=...)``) with imret's thread settings.

    Capped inference threads, no pinning of threads to cores (pinned threads cannot move away from a
    core another process is using). One stream (every thread on one inference: lowest latency), or
    ``streams`` streams sharing the threads, for that many inferences at once (throughput).
    """
    threads = int(num_threads or _configured.get("threads") or default_num_threads())
    streams = max(1, min(int(streams), threads))
    return {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": streams,
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        "ENABLE_CPU_PINNING": False,
    }
