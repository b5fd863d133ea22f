"""Encoder and exact-search throughput on a busy machine, with and without imret's thread settings.

One worker process per (engine, settings): engines are torch eager, ONNX Runtime and OpenVINO (the
default model's encoder, exported to ONNX once) and imret's exact search (``imret.matching``: the torch
engine, and ``search_numpy``, the numpy path a local index searches with);
settings are ``imret`` (``imret.utils.threads.configure_threads`` before the libraries load, as the
CLI does, and imret's runtimes, which use ``ort_session_options`` / ``openvino_config``) or ``default``
(the libraries' own defaults: plain sessions, torch as loaded without imret's environment; OpenVINO
at float32 precision like imret's runtime). Each worker loads once, then measures for ``--seconds`` at a time, round-robin over all
workers: quiet; with a competing load of ``--load-factor`` x cores busy-looping processes started as one
other job in its own session (how another user's or service's job shares a machine; Linux schedules each
session as one group when ``kernel.sched_autogroup_enabled`` is 1); and with the same processes in the
benchmark's own session (each busy process then weighs as much as one of imret's threads). The table
gives the median throughput of each and its ratio to quiet.

    .venv/bin/python benchmarks/bench_load.py [--seconds 4] [--rounds 2]

Encoder inputs are real UKBench photos, preprocessed once; the search gallery is random unit vectors
(exact search time does not depend on the values).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UKBENCH = REPO.parent / "shared" / "datasets" / "ukbench"
ENGINES = ("torch", "onnxruntime", "openvino", "search", "search_numpy")
SETTINGS = ("imret", "default")
THREAD_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "IMRET_NUM_THREADS")
PHASES = ("quiet", "other job", "same session")
BATCH = 8
GALLERY_ROWS, DIM, QUERIES, K = 20000, 1280, 16, 10


def export(folder: Path) -> None:
    """Write one preprocessed batch of UKBench photos and the path of the default model's ONNX encoder."""
    import numpy as np

    from imret.apis import get_model
    from imret.apis.zoo import DEFAULT_MODEL
    from imret.runtimes.onnx_export import cached_onnx

    model = get_model(DEFAULT_MODEL, runtime="torch")
    paths = sorted(UKBENCH.glob("*.jpg"))[:BATCH]
    np.save(folder / "inputs.npy", model.preprocessing.normalize([model.transform(str(p)) for p in paths]))
    onnx = cached_onnx(model.module, model.provenance, model.preprocessing.input_size)
    (folder / "onnx_path.txt").write_text(str(onnx))


def make_step(engine: str, settings: str, folder: Path):
    """``(step, items per step)``: one forward pass of the batch, or one search of QUERIES queries.

    With ``imret`` settings the encoders are imret's own runtimes (``get_model(runtime=...)``); with
    ``default`` they are plain sessions with the libraries' defaults.
    """
    import numpy as np

    encoder = not engine.startswith("search")
    inputs = np.load(folder / "inputs.npy") if encoder else None
    onnx = (folder / "onnx_path.txt").read_text() if encoder else None
    if engine in ("torch", "onnxruntime", "openvino") and (settings == "imret" or engine == "torch"):
        from imret.apis import get_model
        from imret.apis.zoo import DEFAULT_MODEL

        runtime = get_model(DEFAULT_MODEL, runtime=engine).runtime
        return (lambda: runtime.encode(inputs)), len(inputs)
    if engine == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(onnx, onnxruntime.SessionOptions(),
                                               providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda: session.run(None, {name: inputs})), len(inputs)
    if engine == "openvino":
        import openvino

        # at the precision imret's runtime uses (the CPU plugin would pick bfloat16 where the CPU has it)
        compiled = openvino.Core().compile_model(onnx, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return (lambda: compiled(inputs)), len(inputs)
    if engine in ("search", "search_numpy"):
        rng = np.random.default_rng(0)
        gallery = rng.standard_normal((GALLERY_ROWS, DIM), dtype=np.float32)
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        queries = gallery[rng.choice(GALLERY_ROWS, QUERIES, replace=False)] + 0.01
        if engine == "search_numpy":  # the path of a local index's exact search: rank() on numpy arrays
            from imret.matching import rank

            return (lambda: rank(queries, gallery, K)), QUERIES
        import torch

        from imret.matching import topk_similarity

        gallery_t, queries_t = torch.from_numpy(gallery), torch.from_numpy(queries)
        return (lambda: topk_similarity(queries_t, gallery_t, K)), QUERIES
    raise ValueError(engine)


def worker(engine: str, settings: str, folder: Path) -> None:
    """Load, then answer each ``SECONDS`` line on stdin with the items/s measured over that long."""
    if settings == "imret":
        from imret.utils.threads import configure_threads

        configure_threads()
    step, items = make_step(engine, settings, folder)
    for _ in range(2):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        seconds = float(line)
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or count == 0:
            step()
            count += 1
        print(json.dumps({"per_second": count * items / (time.perf_counter() - started)}), flush=True)


def start_load(processes: int, seconds: float, own_session: bool) -> subprocess.Popen:
    """``processes`` busy-looping processes that end by themselves after ``seconds``.

    With ``own_session`` they form one job in a new session (as another user's or service's job would,
    and so, where the kernel groups sessions, one scheduling group); otherwise they share the
    benchmark's session, so each busy process is scheduled as one more thread beside imret's.
    """
    code = (f"import os, time\nfor _ in range({processes - 1}):\n    if os.fork() == 0:\n        break\n"
            f"end = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n")
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True) if own_session \
        else subprocess.Popen([sys.executable, "-c", code], process_group=0)


def stop_load(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def sched_autogroup() -> bool:
    """Whether the kernel schedules each session as one group (``kernel.sched_autogroup_enabled``)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each phase per worker")
    parser.add_argument("--load-factor", type=float, default=2.0, help="competing processes per core")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--worker", nargs=3, metavar=("ENGINE", "SETTINGS", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--export", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export:
        return export(Path(args.export))
    if args.worker:
        return worker(args.worker[0], args.worker[1], Path(args.worker[2]))

    from imret.utils.threads import available_cpus

    cores = available_cpus()
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    engines = [e for e in args.engines.split(",") if e]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        folder = Path(tmp)
        if set(engines) & {"onnxruntime", "openvino", "torch"}:
            subprocess.run([sys.executable, __file__, "--export", tmp], env=env, check=True)
        workers = {}
        for engine in engines:
            for settings in SETTINGS:
                workers[engine, settings] = subprocess.Popen(
                    [sys.executable, __file__, "--worker", engine, settings, tmp], env=env, text=True,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for key, proc in workers.items():
            if proc.stdout.readline().strip() != "ready":
                raise SystemExit(f"worker {key} failed to start")
        results = {key: {phase: [] for phase in PHASES} for key in workers}
        try:
            for _ in range(args.rounds):
                for key, proc in workers.items():
                    for phase in PHASES:
                        load = None if phase == "quiet" else start_load(
                            int(args.load_factor * cores), args.seconds * 3 + 30, own_session=phase == "other job")
                        try:
                            proc.stdin.write(f"{args.seconds}\n")
                            proc.stdin.flush()
                            results[key][phase].append(json.loads(proc.stdout.readline())["per_second"])
                        finally:
                            stop_load(load)
        finally:
            for proc in workers.values():
                proc.stdin.close()
                proc.wait()
    load_after = os.getloadavg()

    unit = {"search": "queries/s", "search_numpy": "queries/s"}
    print(f"cores available: {cores}; competing load: {int(args.load_factor * cores)} busy processes, as one "
          f"other job in its own session ('other job') or in the benchmark's session ('same session'); "
          f"kernel groups sessions: {'yes' if sched_autogroup() else 'no'}; {args.rounds} rounds of "
          f"{args.seconds:.0f} s; load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"| {'engine':<12} | {'settings':<8} | {'quiet':>8} | {'other job':>9} | {'ratio':>5} "
          f"| {'same session':>12} | {'ratio':>5} | unit |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 9}:|{'-' * 10}:|{'-' * 6}:|{'-' * 13}:|{'-' * 6}:|------|")
    for (engine, settings), phases in results.items():
        quiet, other, same = (statistics.median(phases[phase]) for phase in PHASES)
        print(f"| {engine:<12} | {settings:<8} | {quiet:>8.1f} | {other:>9.1f} | {other / quiet:>5.2f} "
              f"| {same:>12.1f} | {same / quiet:>5.2f} | {unit.get(engine, 'images/s')} |")

if __name__ == "__main__":
    main()
