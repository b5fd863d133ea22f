"""A cold one-image ``imret search --timings``: the code at a baseline commit against the current code.

Each search is a fresh ``python -m imret.cli.main search INDEX QUERY --timings -q`` process with the
default runtime; its wall time (measured here) and its own split (start-up, imports, model load, encode,
search) are recorded. Both source trees are extracted with ``git archive`` into a temporary folder (the
current one from HEAD: commit first) and run with this interpreter and its packages, with bytecode
caching on (as an installed package has it). The index: the first ``--gallery`` UKBench JPEGs, built
once by the current code; the query: another UKBench JPEG. One warm-up search per variant first (the
shared ONNX export made, bytecode written, OpenVINO's compiled-model cache filled where the code has
one), then ``--rounds`` rounds round-robin. ``current, no compiled cache`` is the current code with
``IMRET_OPENVINO_CACHE=0``. Last, the current code's "encode" stage is taken apart in ``--rounds``
fresh processes of each current variant.

    python benchmarks/bench_cold_search.py [--rounds 5] [--baseline main] [--gallery 8]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decode import UKBENCH  # noqa: E402
from bench_index_command import REPO, THREAD_ENV, extract_source, run_search  # noqa: E402

STAGES = ("start", "imports", "model load", "encode", "search")
ENCODE_PARTS = ("import openvino", "build runtime", "decode+resize", "first inference", "second inference")
# The "encode" stage of the current code, taken apart in a fresh process (same calls as imret search).
ENCODE_SPLIT = """
import json, sys, time
from imret.apis.searcher import IndexSearcher
searcher = IndexSearcher(sys.argv[1])
marks = [time.perf_counter()]
import openvino
marks.append(time.perf_counter())
searcher.model.runtime.runtime  # built (compiled, or loaded from OpenVINO's cache) here
marks.append(time.perf_counter())
image = searcher.model.transform(sys.argv[2])
marks.append(time.perf_counter())
for _ in range(2):
    searcher.model.encode_arrays([image])
    marks.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(marks, marks[1:])]))
"""


def span(values: list[float], digits: int = 2) -> str:
    low, high = min(values), max(values)
    return f"{low:.{digits}f}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" else \
        f"{low:.{digits}f}-{high:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default="main", help="commit to compare with")
    parser.add_argument("--gallery", type=int, default=8, help="UKBench JPEGs in the index")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items()
           if k not in THREAD_ENV and k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "IMRET_OPENVINO_CACHE")}
    sources = sorted(UKBENCH.glob("ukbench*.jpg"))
    if len(sources) < args.gallery + 1:
        raise SystemExit(f"needs {args.gallery + 1} UKBench photos in {UKBENCH}")
    baseline = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", args.baseline], capture_output=True,
                              text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench_cold_search_") as tmp:
        root = Path(tmp)
        env["IMRET_CACHE_DIR"] = str(root / "cache")
        current_src = extract_source("HEAD", root / "current")
        variants = {f"before ({baseline})": (extract_source(baseline, root / "baseline"), {}),
                    f"current ({head})": (current_src, {}),
                    f"current ({head}), no compiled cache": (current_src, {"IMRET_OPENVINO_CACHE": "0"})}
        gallery = root / "gallery"
        gallery.mkdir()
        for source in sources[:args.gallery]:
            shutil.copyfile(source, gallery / source.name)
        index = root / "index"
        subprocess.run([sys.executable, "-m", "imret.cli.main", "index", str(gallery), "--out", str(index), "-q",
                        "--no-progress"], env={**env, "PYTHONPATH": str(current_src)}, check=True,
                       capture_output=True)
        query = sources[args.gallery]
        for src, extra in variants.values():
            run_search(src, index, query, {**env, **extra})  # warm-up
        load_before = os.getloadavg()
        results: dict = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (src, extra) in variants.items():
                results[name].append(run_search(src, index, query, {**env, **extra}))
        splits: dict = {}
        for name in list(variants)[1:]:
            src, extra = variants[name]
            splits[name] = [json.loads(subprocess.run(
                [sys.executable, "-c", ENCODE_SPLIT, str(index), str(query)], capture_output=True, text=True,
                check=True, env={**env, **extra, "PYTHONPATH": str(src)}).stdout.strip().splitlines()[-1])
                for _ in range(args.rounds)]
        load_after = os.getloadavg()

    print(f"cold one-image `imret search --timings` ({args.gallery}-image UKBench index, query {query.name}); "
          f"{args.rounds} rounds round-robin, fresh processes; load average before {load_before[0]:.2f} "
          f"{load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f}")
    print("| code (runtime) | " + " | ".join(f"{stage} s" for stage in STAGES)
          + " | wall s (range) | wall s (median) | vs before |")
    print("|---|" + "---:|" * (len(STAGES) + 3))
    base_median = statistics.median(seconds for seconds, _, _ in results[next(iter(variants))])
    for name, runs in results.items():
        walls = [seconds for seconds, _, _ in runs]
        cells = [span([stages.get(stage, float("nan")) for _, stages, _ in runs], 3 if stage == "search" else 2)
                 for stage in STAGES]
        print(f"| {name} ({runs[0][2]}) | " + " | ".join(cells)
              + f" | {span(walls)} | {statistics.median(walls):.2f} | {statistics.median(walls) / base_median:.2f}x |")
    print("\nthe encode stage taken apart (same process order as imret search; seconds):")
    print("| code | " + " | ".join(ENCODE_PARTS) + " |")
    print("|---|" + "---:|" * len(ENCODE_PARTS))
    for name, runs in splits.items():
        print(f"| {name} | " + " | ".join(span([run[i] for run in runs], 3) for i in range(len(ENCODE_PARTS))) + " |")


if __name__ == "__main__":
    main()
