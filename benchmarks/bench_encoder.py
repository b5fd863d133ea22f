"""Encoder forward throughput: torch eager, ONNX Runtime and OpenVINO run bare, and imret's default runtime.

One process, the same preprocessed batch of real UKBench photos (batch 16 at 224 px) for every
runtime, round-robin: each round times every runtime once, the table reports the median round.
Also: the largest cosine deviation of each runtime's vectors from torch's, and torch eager timed
before any ONNX Runtime / OpenVINO session exists versus after (see benchmarks/README.md).

    .venv/bin/python benchmarks/bench_encoder.py [--rounds 5] [--iters 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ukbench"


def flush_to_zero() -> bool:
    """Whether this thread flushes denormal floats to zero (FTZ/DAZ): a denormal times 1 becomes 0."""
    tiny = np.array([1e-39], np.float32)
    return bool((tiny * np.float32(1.0))[0] == 0)


def denormal_count(model, batch: np.ndarray) -> tuple[int, int]:
    """(denormal weights, denormal activations of every submodule) of the torch model on ``batch``."""
    import torch

    def count(tensor) -> int:
        return int(((tensor.abs() < np.finfo(np.float32).tiny) & (tensor != 0)).sum())

    weights = sum(count(t) for t in model.module.state_dict().values() if t.is_floating_point())
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(count(o)) if isinstance(o, torch.Tensor) else None)
             for m in model.module.modules()]
    try:
        model.runtime.encode(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return weights, sum(seen)


def timed(encode, batch: np.ndarray, iters: int) -> float:
    """Images per second over ``iters`` forward passes."""
    started = time.perf_counter()
    for _ in range(iters):
        encode(batch)
    return iters * len(batch) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3, help="forward passes per runtime per round")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--loop-images", type=int, default=64,
                        help="UKBench photos for the encode-loop table (decode + encode), 0 to skip")
    args = parser.parse_args()

    import torch

    from imret.apis import get_model
    from imret.runtimes.onnx_export import cached_onnx

    model = get_model("efficientnet-lite0_gem", runtime="torch", device="cpu")
    paths = [str(DATA / f"ukbench{i:05d}.jpg") for i in range(args.batch)]
    batch = model.preprocessing.normalize([model.transform(p) for p in paths])
    onnx = cached_onnx(model.module, model.provenance, model.preprocessing.input_size)
    torch_encode = model.runtime.encode
    reference = torch_encode(batch)

    # torch eager alone, before any ONNX Runtime / OpenVINO session exists in this process
    torch_encode(batch)
    before = [timed(torch_encode, batch, args.iters) for _ in range(2)]
    threads_before, ftz_before = torch.get_num_threads(), flush_to_zero()
    denormal_weights, denormal_activations = denormal_count(model, batch)

    import onnxruntime
    import openvino
    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    ort_encode = lambda x: session.run(None, {"images": x})[0]  # noqa: E731
    core = openvino.Core()
    compiled = core.compile_model(str(onnx), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()

    def ov_encode(x):
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    default = model.with_runtime("auto")
    methods = {"torch eager": torch_encode, "onnxruntime bare": ort_encode, "openvino bare": ov_encode,
               f"imret default ({default.runtime_name})": default.runtime.encode}
    deviation = {}
    for name, encode in methods.items():
        vectors = encode(batch)
        cosines = (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
        deviation[name] = float(1 - cosines.min())
    rates = {name: [] for name in methods}
    for _ in range(args.rounds):
        for name, encode in methods.items():
            rates[name].append(timed(encode, batch, args.iters))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    best_bare = max(medians["onnxruntime bare"], medians["openvino bare"])

    print(f"batch {args.batch} x 3 x 224 x 224, {args.rounds} rounds x {args.iters} passes, "
          f"cores usable {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}")
    print(f"{'runtime':<30} {'images/s':>9} {'vs best bare':>13} {'max 1-cos vs torch':>19}")
    for name in methods:
        print(f"{name:<30} {medians[name]:>9.1f} {medians[name] / best_bare:>12.2f}x {deviation[name]:>19.2e}")
    print(f"\ntorch eager before any ONNX Runtime/OpenVINO session: {statistics.median(before):.1f} images/s "
          f"(torch threads {threads_before}); after: {medians['torch eager']:.1f} images/s "
          f"(torch threads {torch.get_num_threads()}); ratio after/before "
          f"{medians['torch eager'] / statistics.median(before):.2f}")
    print(f"flush-to-zero on this thread before the sessions: {ftz_before}, after: {flush_to_zero()}; "
          f"denormal weights: {denormal_weights}, denormal activations on this batch: {denormal_activations}")
    if args.loop_images:
        encode_loop_table(default, args)
    return 0


def encode_loop_table(model, args: argparse.Namespace) -> None:
    """The whole encode loop (JPEG decode + resize + crop in worker threads, then the runtime) on real
    photos, with 1 decoding thread and with the default number, against the runtime alone."""
    from imret.apis.encode import default_decode_workers

    paths = [str(DATA / f"ukbench{i:05d}.jpg") for i in range(args.loop_images)]
    batch = model.preprocessing.normalize([model.transform(p) for p in paths[:args.batch]])
    workers = default_decode_workers()
    rates = {"runtime alone (preprocessed)": [], "encode loop, 1 decode thread": [],
             f"encode loop, {workers} decode threads": []}
    for _ in range(max(1, args.rounds // 2)):
        rates["runtime alone (preprocessed)"].append(timed(model.runtime.encode, batch, args.iters))
        for count, name in ((1, "encode loop, 1 decode thread"), (workers, f"encode loop, {workers} decode threads")):
            started = time.perf_counter()
            model.encode_images(paths, batch_size=args.batch, workers=count)
            rates[name].append(len(paths) / (time.perf_counter() - started))
    print(f"\n{'encode loop (' + model.runtime_name + ', ' + str(len(paths)) + ' JPEGs 640x480)':<40} {'images/s':>9}")
    for name, values in rates.items():
        print(f"{name:<40} {statistics.median(values):>9.1f}")


if __name__ == "__main__":
    sys.exit(main())
