"""`imret index` images/s over the whole command: the code at a baseline commit against the current code.

Each run is a fresh ``python -m imret.cli.main index GALLERY --out NEW --json --no-progress`` subprocess
(start-up, model load, decoding, encoding, saving); images/s = images / wall time of the process. The
baseline's source tree is extracted with ``git archive`` into a temporary folder and run with
PYTHONPATH pointing there; both use this interpreter and its packages. Galleries: the first
``--ukbench`` UKBench JPEGs (640x480) and ``--large`` 12-megapixel JPEGs made by upscaling UKBench
photos (bicubic, 4000x3000, quality 90). Round-robin over rounds x galleries x variants, after one
warm-up run per variant (library files in the page cache, the current code's ONNX export cached).
Then a cold one-image ``imret search --timings`` of the current code gives the wall-time split, and
``imret --help`` is timed for both.

    python benchmarks/bench_index_command.py [--ukbench 600] [--large 60] [--rounds 2] [--baseline fdd2260]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decode import UKBENCH, upscale  # noqa: E402  (the benchmarks' one upscaling helper)

REPO = Path(__file__).resolve().parents[1]
THREAD_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "IMRET_NUM_THREADS")


def extract_source(commit: str, target: Path) -> Path:
    """The ``src`` tree of ``commit`` written under ``target`` (no worktree registered); returns its src."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def run_index(src: Path, gallery: Path, out: Path, env: dict) -> tuple[float, dict]:
    """(wall seconds, JSON summary) of one ``imret index`` process."""
    command = [sys.executable, "-m", "imret.cli.main", "index", str(gallery), "--out", str(out), "--json",
               "--no-progress"]
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "PYTHONPATH": str(src)}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"imret index failed ({src}): {result.stderr[-2000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def run_help(src: Path, env: dict) -> float:
    """Wall seconds of one ``imret --help`` process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imret.cli.main", "--help"], env={**env, "PYTHONPATH": str(src)},
                   capture_output=True, check=True)
    return time.perf_counter() - started


def run_search(src: Path, index: Path, query: Path, env: dict) -> tuple[float, dict, str]:
    """(wall seconds, {stage: seconds}, runtime) of one cold search process."""
    command = [sys.executable, "-m", "imret.cli.main", "search", str(index), str(query), "--timings", "-q"]
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "PYTHONPATH": str(src)}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"imret search failed ({src}): {result.stderr[-2000:]}")
    line = next((x for x in result.stderr.splitlines() if "timings:" in x), "")
    stages = {name: float(value) for name, value in re.findall(r"(start|imports|model load|encode|search) "
                                                                r"([0-9.]+) s", line)}
    runtime = re.search(r"\(runtime (\w+)\)", line)
    return seconds, stages, runtime.group(1) if runtime else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ukbench", type=int, default=600, help="UKBench JPEGs in the first gallery")
    parser.add_argument("--large", type=int, default=60, help="12-MP JPEGs in the second gallery (0: none)")
    parser.add_argument("--size", default="4000x3000", help="size of the upscaled photos")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", default="fdd2260", help="commit to compare with")
    parser.add_argument("--searches", type=int, default=3, help="cold one-image searches timed")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV and k != "PYTHONPATH"}
    sources = sorted(UKBENCH.glob("ukbench*.jpg"))
    if len(sources) < max(args.ukbench, args.large, 4):
        raise SystemExit(f"needs {max(args.ukbench, args.large)} UKBench photos in {UKBENCH}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_index_command_") as tmp:
        root = Path(tmp)
        variants = {args.baseline: extract_source(args.baseline, root / "baseline"), "current": REPO / "src"}
        galleries = {}
        for name, count in (("ukbench", args.ukbench), ("warmup", 4)):
            folder = root / name
            folder.mkdir()
            for source in sources[:count]:
                shutil.copyfile(source, folder / source.name)
            galleries[name] = (folder, count)
        if args.large:
            width, height = (int(v) for v in args.size.lower().split("x"))
            folder = root / "large"
            folder.mkdir()
            upscale(sources[:args.large], folder, (width, height))
            galleries[f"large {width}x{height}"] = (folder, args.large)
        warmup = galleries.pop("warmup")[0]
        helps: dict = {variant: [] for variant in variants}
        for _ in range(3):
            for variant, src in variants.items():
                helps[variant].append(run_help(src, env))
        for variant, src in variants.items():
            run_index(src, warmup, root / f"warmup-{len(os.listdir(root))}", env)

        walls: dict = {(g, v): [] for g in galleries for v in variants}
        own: dict = {(g, v): [] for g in galleries for v in variants}
        runtimes: dict = {}
        last_index = {}
        for round_number in range(args.rounds):
            for gallery, (folder, count) in galleries.items():
                for variant, src in variants.items():
                    out = root / f"idx-{round_number}-{gallery.split()[0]}-{variant.split()[0]}"
                    seconds, summary = run_index(src, folder, out, env)
                    if summary["count"] != count:
                        raise SystemExit(f"{variant} indexed {summary['count']} of {count} images of {gallery}")
                    walls[gallery, variant].append(seconds)
                    own[gallery, variant].append(summary.get("images_per_second") or 0.0)
                    runtimes[variant] = summary.get("runtime", "torch")
                    last_index[gallery, variant] = out
                    print(f"  round {round_number + 1} {gallery} {variant}: {seconds:.1f} s", file=sys.stderr)

        current = list(variants)[1]
        query = sources[0]
        searches = [run_search(variants[current], last_index["ukbench", current], query, env)
                    for _ in range(args.searches)]
    load_after = os.getloadavg()

    print(f"baseline {args.baseline} vs current; {args.rounds} rounds, round-robin; load average before "
          f"{load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} {load_after[2]:.2f}")
    print("| gallery | images | code (runtime) | wall s (median) | images/s, whole command | vs baseline | "
          "images/s by its own summary |")
    print("|---|---:|---|---:|---:|---:|---:|")
    baseline = list(variants)[0]
    for gallery, (_, count) in galleries.items():
        base_rate = count / statistics.median(walls[gallery, baseline])
        for variant in variants:
            wall = statistics.median(walls[gallery, variant])
            print(f"| {gallery} | {count} | {variant} ({runtimes.get(variant)}) | {wall:.1f} | {count / wall:.1f} | "
                  f"{count / wall / base_rate:.2f}x | {statistics.median(own[gallery, variant]):.1f} |")
    print("\n`imret --help` wall seconds (median of 3, round-robin): "
          + ", ".join(f"{variant} {statistics.median(times):.2f}" for variant, times in helps.items()))
    print("\ncold one-image `imret search --timings` (current code):")
    for seconds, stages, runtime in searches:
        print(f"  wall {seconds:.2f} s: " + ", ".join(f"{stage} {value:.3f} s" for stage, value in stages.items())
              + f" (runtime {runtime})")


if __name__ == "__main__":
    main()
