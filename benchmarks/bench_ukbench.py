"""UKBench retrieval with the ``imret`` command line: accuracy and indexing throughput.

Runs, for each model, exactly the commands a user would:

    imret index ../shared/datasets/ukbench --out WORK/<model> --model MODEL --rebuild --json
    imret search WORK/<model> ../shared/datasets/ukbench --topk 600 --json > WORK/<model>.json

then scores the JSON (every image queries all 600; N-S score = mean number of the object's 4
images in the top 4, max 4.0; mAP and Recall@1 leave the query itself out), and measures the
bare encoder forward pass (random 224x224 batches, no decoding) in the same run, so the indexing
rate can be read against it.

    python benchmarks/bench_ukbench.py [--models efficientnet-lite0_gem efficientnet-lite0_avg]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
UKBENCH = REPO.parent / "shared" / "datasets" / "ukbench"


def object_of(path: str) -> int:
    """UKBench ground truth: image n shows object n // 4."""
    return int(Path(path).stem.replace("ukbench", "")) // 4


def score_results(payload: list[dict]) -> dict[str, float]:
    """N-S score (query included, as in the protocol), mAP and Recall@1 (query excluded)."""
    ns, aps, r1 = [], [], []
    for entry in payload:
        query = Path(entry["query"]).name
        target = object_of(query)
        ranked = [Path(m["path"]).name for m in sorted(entry["matches"], key=lambda m: m["rank"])]
        ns.append(sum(object_of(name) == target for name in ranked[:4]))
        others = [name for name in ranked if name != query]
        relevant = np.array([object_of(name) == target for name in others], dtype=bool)
        total_relevant = 3
        hits = np.cumsum(relevant)
        precision_at_hits = hits[relevant] / (np.flatnonzero(relevant) + 1)
        aps.append(precision_at_hits.sum() / total_relevant)
        r1.append(float(relevant[0]) if len(relevant) else 0.0)
    return {"ns": float(np.mean(ns)), "map": float(np.mean(aps)), "r1": float(np.mean(r1))}


def imret(*args: str) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "imret"
    return subprocess.run([str(command), *map(str, args)], capture_output=True, text=True, check=True)


def bare_forward_rate(model_name: str, batch: int = 32, repeats: int = 4) -> float:
    """Images per second of the encoder alone (imret's default runtime) on random 224x224 inputs."""
    import numpy as np

    from imret.apis import get_model

    model = get_model(model_name)
    inputs = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    model.runtime.encode(inputs)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        model.runtime.encode(inputs)
    return batch * repeats / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(UKBENCH), help="UKBench folder (600 images)")
    parser.add_argument("--models", nargs="+", default=["efficientnet-lite0_gem", "efficientnet-lite0_avg"])
    parser.add_argument("--work", default=None, help="where indexes and JSON results go (default: a temp dir)")
    args = parser.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        print(f"UKBench not found at {data}; pass --data", file=sys.stderr)
        return 1
    count = len(list(data.glob("*.jpg")))
    work = Path(args.work or tempfile.mkdtemp(prefix="imret-ukbench-"))
    rows = []
    for model in args.models:
        forward = bare_forward_rate(model)
        index = work / model
        built = json.loads(imret("index", data, "--out", index, "--model", model, "--rebuild", "--json",
                                 "--no-progress").stdout.strip().splitlines()[-1])
        started = time.perf_counter()
        found = imret("search", index, data, "--topk", count, "--json")
        search_seconds = time.perf_counter() - started
        (work / f"{model}.json").write_text(found.stdout)
        scores = score_results(json.loads(found.stdout))
        indexing = built["encoded"] / built["seconds"]
        rows.append((model, scores, indexing, forward, search_seconds))
        print(f"{model}: N-S {scores['ns']:.3f}  mAP {scores['map']:.4f}  R@1 {scores['r1']:.4f}  "
              f"index {indexing:.1f} img/s  bare forward {forward:.1f} img/s", file=sys.stderr, flush=True)

    print(f"\nUKBench, {count} images, every image queries all {count} (results and indexes in {work})\n")
    print("| model | N-S score (/4) | mAP | Recall@1 | `imret index` images/s | bare forward images/s "
          "| index / forward | `imret search` of all queries (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for model, scores, indexing, forward, search_seconds in rows:
        print(f"| {model} | {scores['ns']:.3f} | {scores['map']:.4f} | {scores['r1']:.4f} | {indexing:.1f} | "
              f"{forward:.1f} | {indexing / forward:.2f} | {search_seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
