"""Encoder and exact-search throughput on a busy machine, with and without imret's thread settings.

One worker process per (engine, settings): engines are torch eager, ONNX Runtime and OpenVINO (the
default model's encoder, exported to ONNX once) and imret's exact search (``imret.matching``);
settings are ``imret`` (``imret.utils.threads.configure_threads`` before the libraries load, and its
``ort_session_options`` / ``openvino_config``) or ``default`` (the libraries' own defaults, as imret
ran before). Each worker loads once, then measures for ``--seconds`` at a time, round-robin over all
workers: quiet, then with a competing load of ``--load-factor`` x cores busy-looping processes. The
table gives the median throughput of each and loaded / quiet.

    .venv/bin/python benchmarks/bench_load.py [--seconds 4] [--rounds 2]

Encoder inputs are real UKBench photos, preprocessed once; the search gallery is random unit vectors
(exact search time does not depend on the values).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UKBENCH = REPO.parent / "shared" / "datasets" / "ukbench"
ENGINES = ("torch", "onnxruntime", "openvino", "search")
SETTINGS = ("imret", "default")
THREAD_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "IMRET_NUM_THREADS")
BATCH = 8
GALLERY_ROWS, DIM, QUERIES, K = 20000, 1280, 16, 10


def export(folder: Path) -> None:
    """Write the default model's encoder as ONNX and one preprocessed batch of UKBench photos."""
    import numpy as np
    import torch

    from imret.apis import ImageTransform, get_model
    from imret.apis.zoo import DEFAULT_MODEL

    model = get_model(DEFAULT_MODEL)
    transform = ImageTransform(model.pipeline_cfg)
    paths = sorted(UKBENCH.glob("*.jpg"))[:BATCH]
    packed = [transform(str(p), sample_idx=i) for i, p in enumerate(paths)]
    data = model.data_preprocessor(dict(inputs=[p["inputs"] for p in packed],
                                        data_samples=[p.get("data_samples") for p in packed]), False)
    inputs = data["inputs"].float()
    np.save(folder / "inputs.npy", inputs.numpy())

    class Encoder(torch.nn.Module):
        def __init__(self, retriever):
            super().__init__()
            self.retriever = retriever

        def forward(self, x):
            feats = self.retriever.extract_feat(x)
            feats = feats[-1] if isinstance(feats, (tuple, list)) else feats
            return feats.reshape(feats.shape[0], -1)

    torch.onnx.export(Encoder(model).eval(), (inputs,), str(folder / "encoder.onnx"), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False,
                      opset_version=17)


def make_step(engine: str, settings: str, folder: Path):
    """``(step, items per step)``: one forward pass of the batch, or one search of QUERIES queries."""
    import numpy as np

    from imret.utils import threads

    if engine == "torch":
        import torch

        from imret.apis import get_model
        from imret.apis.zoo import DEFAULT_MODEL

        model = get_model(DEFAULT_MODEL)
        inputs = torch.from_numpy(np.load(folder / "inputs.npy"))

        def step():
            with torch.no_grad():
                model.extract_feat(inputs)
        return step, len(inputs)
    if engine == "onnxruntime":
        import onnxruntime

        options = threads.ort_session_options() if settings == "imret" else onnxruntime.SessionOptions()
        session = onnxruntime.InferenceSession(str(folder / "encoder.onnx"), options,
                                               providers=["CPUExecutionProvider"])
        inputs = np.load(folder / "inputs.npy")
        return (lambda: session.run(None, {"x": inputs})), len(inputs)
    if engine == "openvino":
        import openvino

        config = threads.openvino_config() if settings == "imret" else {}
        compiled = openvino.Core().compile_model(str(folder / "encoder.onnx"), "CPU", config)
        inputs = np.load(folder / "inputs.npy")
        return (lambda: compiled(inputs)), len(inputs)
    if engine == "search":
        import torch

        from imret.matching import topk_similarity

        rng = np.random.default_rng(0)
        gallery = rng.standard_normal((GALLERY_ROWS, DIM), dtype=np.float32)
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        gallery_t = torch.from_numpy(gallery)
        queries = torch.from_numpy(gallery[rng.choice(GALLERY_ROWS, QUERIES, replace=False)] + 0.01)
        return (lambda: topk_similarity(queries, gallery_t, K)), QUERIES
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


def start_load(processes: int, seconds: float) -> list[subprocess.Popen]:
    """``processes`` busy-looping interpreters that end by themselves after ``seconds``."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
    for proc in procs:
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=2, help="quiet/loaded pairs per worker")
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
        results = {key: {"quiet": [], "loaded": []} for key in workers}
        try:
            for _ in range(args.rounds):
                for key, proc in workers.items():
                    for phase in ("quiet", "loaded"):
                        load = start_load(int(args.load_factor * cores), args.seconds * 3 + 30) \
                            if phase == "loaded" else []
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

    unit = {"search": "queries/s"}
    print(f"cores available: {cores}; competing load: {int(args.load_factor * cores)} busy processes; "
          f"{args.rounds} rounds of {args.seconds:.0f} s; load average before {load_before[0]:.2f} "
          f"{load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f}")
    print(f"| {'engine':<12} | {'settings':<8} | {'quiet':>10} | {'loaded':>10} | {'loaded/quiet':>12} | unit |")
    print(f"|{'-' * 14}|{'-' * 10}|{'-' * 12}:|{'-' * 12}:|{'-' * 14}:|------|")
    for (engine, settings), phases in results.items():
        quiet, loaded = statistics.median(phases["quiet"]), statistics.median(phases["loaded"])
        print(f"| {engine:<12} | {settings:<8} | {quiet:>10.1f} | {loaded:>10.1f} | {loaded / quiet:>12.2f} | "
              f"{unit.get(engine, 'images/s')} |")


if __name__ == "__main__":
    main()
