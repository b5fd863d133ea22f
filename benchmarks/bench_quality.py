"""Retrieval quality on the shared sets: plain cosine vs re-ranking, TTA and fine-tuned models.

Run from the repository root (needs ../shared/datasets):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_quality.py [--work-dir DIR] [--timing] [--no-finetune]
        [--tta flip 224,320 flip,224,320] [--models base tta finetuned]

Sets (every image queries all the others of its set, leave-one-out; same class = relevant):
  orl-open      ORL faces s21-s40 (open set: fine-tuning only ever sees s1-s20)
  flowers12     flowers12/test (each test image queries the other test images)
  ukbench600    UKBench images 0-599 (4 views per object); N-S = 1 + relevant among the first 3

Vectors are cached per set in WORK/cache, keyed by the model's provenance and the files' fingerprint,
so re-ranking variants never re-encode. Fine-tuned models (`imret finetune`, CPU budget: ORL s1-s20
2 epochs, flowers12/train 1 epoch) are trained once into WORK/models; ``--tta`` variants are measured
for the base model and for the fine-tuned ones. ``--timing`` adds re-ranking cost per query on random
unit vectors (dim 1280, shortlist 100) for 10k and 100k galleries, and the DBA index-build time.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
BASE = "efficientnet-lite0_gem"
METHODS = [
    ("cosine", [], None),
    ("qe k=2", ["qe:k=2"], None),
    ("alpha-qe k=3 a=3", ["alpha-qe:k=3,alpha=3"], None),
    ("dba k=5", [], {"k": 5, "alpha": 0.0}),
    ("dba k=2 a=3", [], {"k": 2, "alpha": 3.0}),
    ("dba k=5 + alpha-qe k=3 a=3", ["alpha-qe:k=3,alpha=3"], {"k": 5, "alpha": 0.0}),
    ("k-reciprocal k1=10 k2=3 l=0.1", ["k-reciprocal:k1=10,k2=3,lambda=0.1"], None),
    ("k-reciprocal k1=5 k2=2 l=0.3", ["k-reciprocal:k1=5,k2=2,lambda=0.3"], None),
    ("k-reciprocal k1=7 k2=2 l=0.3", ["k-reciprocal:k1=7,k2=2,lambda=0.3"], None),
    ("alpha-qe k=3 a=3 + k-reciprocal k1=10", ["alpha-qe:k=3,alpha=3", "k-reciprocal:k1=10,k2=3,lambda=0.1"], None),
    ("dba k=2 a=3 + qe k=2", ["qe:k=2"], {"k": 2, "alpha": 3.0}),
    ("dba k=2 a=3 + k-reciprocal k1=5 k2=2 l=0.3", ["k-reciprocal:k1=5,k2=2,lambda=0.3"], {"k": 2, "alpha": 3.0}),
    ("dba k=2 a=3 + k-reciprocal k1=10 k2=3 l=0.1", ["k-reciprocal:k1=10,k2=3,lambda=0.1"], {"k": 2, "alpha": 3.0}),
]


def prepare_orl(work: Path) -> tuple[Path, Path]:
    """ORL s1-s20 (training) and s21-s40 (open-set evaluation) as class folders under WORK/data."""
    train, test = work / "data" / "orl_train", work / "data" / "orl_test"
    for target, subjects in ((train, range(1, 21)), (test, range(21, 41))):
        for s in subjects:
            if not (target / f"s{s}").is_dir():
                shutil.copytree(DATA / "att_faces" / f"s{s}", target / f"s{s}")
    return train, test


def sets(work: Path) -> dict:
    from imret.apis.evaluate import LabelledFolder, read_labelled_folder

    _, orl_test = prepare_orl(work)
    uk = sorted(str(p) for p in (DATA / "ukbench").glob("ukbench*.jpg"))[:600]
    return {
        "orl-open": read_labelled_folder(orl_test),
        "flowers12": read_labelled_folder(DATA / "flowers12" / "test"),
        "ukbench600": LabelledFolder(uk, np.arange(len(uk)) // 4, [str(i) for i in range(len(uk) // 4)]),
    }


def finetuned(work: Path, allowed: bool, flowers_epochs: int = 1) -> dict:
    """{set: model folder} of the fine-tuned models, training the missing ones when allowed."""
    from imret.apis.finetune import finetune
    from imret.apis.finetune_options import FinetuneOptions
    from imret.apis.model_dir import is_model_dir

    orl_train, _ = prepare_orl(work)
    plans = {"orl-open": (orl_train, FinetuneOptions(epochs=2, batch_size=16)),
             "flowers12": (DATA / "flowers12" / "train",
                           FinetuneOptions(epochs=flowers_epochs, batch_size=16, val_fraction=0))}
    models = {}
    for name, (folder, options) in plans.items():
        out = work / "models" / ("orl_ft" if name == "orl-open" else "flowers_ft")
        if not is_model_dir(out):
            if not allowed:
                continue
            started = time.perf_counter()
            report = finetune(folder, out, BASE, options)
            print(f"fine-tuned {out.name} in {time.perf_counter() - started:.0f} s: {report.before} -> {report.after}",
                  flush=True)
        models[name] = out
    return models


def vectors_for(model, model_key: str, set_name: str, folder, work: Path) -> tuple[np.ndarray, np.ndarray]:
    from imret.apis.evaluate import encode_folder
    from imret.apis.provenance import provenance_key

    cache = work / "cache" / f"{set_name}-{model_key}-{provenance_key(model.provenance)}.safetensors"
    cache.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    vectors, labels, failed = encode_folder(model, folder, batch_size=16, progress=False, cache=cache)
    seconds = time.perf_counter() - started
    if seconds > 1:
        print(f"  encoded {set_name} with {model_key}: {len(vectors)} images in {seconds:.0f} s", flush=True)
    if failed:
        sys.exit(f"unreadable images in {set_name}: {sorted(failed)[:3]}")
    return vectors, labels


def quality_table(work: Path, allow_finetune: bool, tta: list[str], only: Optional[list[str]] = None,
                  flowers_epochs: int = 1) -> list[dict]:
    from imret.apis.evaluate import leave_one_out
    from imret.apis.model_dir import CONFIG_FILE
    from imret.apis.zoo import get_model

    data = sets(work)
    tuned = finetuned(work, allow_finetune, flowers_epochs)
    models = {"base": lambda: get_model(BASE)}
    for spec in tta:
        models[f"base+tta:{spec}"] = (lambda spec=spec: _tta_model(spec))
    rows = []
    for set_name, folder in data.items():
        candidates = dict(models)
        if set_name in tuned:  # a fine-tuned model is measured in its own domain
            path = tuned[set_name]
            candidates[f"finetuned[{set_name}]"] = (lambda path=path: get_model(str(path / CONFIG_FILE)))
            for spec in tta:
                candidates[f"finetuned[{set_name}]+tta:{spec}"] = \
                    (lambda path=path, spec=spec: _tta_model(spec, str(path / CONFIG_FILE)))
        for model_key, make in candidates.items():
            if only and not any(key in model_key for key in only):
                continue
            model = make()
            vectors, labels = vectors_for(model, model_key.replace(":", "_").replace(",", "_"), set_name, folder, work)
            methods = METHODS if model_key == "base" or model_key.startswith("finetuned") else \
                METHODS[:1] + [m for m in METHODS if m[0].startswith(("k-reciprocal", "qe", "dba k=2 a=3"))]
            for method, rerank, dba in methods:
                started = time.perf_counter()
                q = leave_one_out(vectors, labels, rerank=rerank, dba=dba, shortlist=100)
                rows.append({"set": set_name, "model": model_key, "method": method, "mAP": q.mAP,
                             "R@1": q.recall[1], "R@5": q.recall[5], "N-S": 1 + q.relevant_in_top3,
                             "seconds": time.perf_counter() - started})
                print(f"{set_name:<11} {model_key:<22} {method:<40} mAP {q.mAP:6.2f}  R@1 {q.recall[1]:6.2f}"
                      f"  N-S {1 + q.relevant_in_top3:.3f}", flush=True)
    return rows


def _tta_model(spec: str, model: str = BASE):
    from imret.apis.tta import parse_tta, with_tta
    from imret.apis.zoo import get_model

    return with_tta(get_model(model), **parse_tta(spec))


def print_table(rows: list[dict]) -> None:
    base = {(r["set"], r["model"]): r for r in rows if r["method"] == "cosine"}
    plain = {r["set"]: r for r in rows if r["method"] == "cosine" and r["model"] == "base"}
    print("\n| set | model | method | mAP | R@1 | R@5 | N-S | mAP vs base cosine | R@1 vs base cosine |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ref = plain.get(r["set"]) or base[(r["set"], r["model"])]  # the model's own cosine when base is not run
        ns = f"{r['N-S']:.3f}" if r["set"] == "ukbench600" else ""
        print(f"| {r['set']} | {r['model']} | {r['method']} | {r['mAP']:.2f} | {r['R@1']:.2f} | {r['R@5']:.2f} | {ns} "
              f"| {r['mAP'] - ref['mAP']:+.2f} | {r['R@1'] - ref['R@1']:+.2f} |")


def timing(sizes=(10_000, 100_000), queries: int = 32, shortlist: int = 100, dba: bool = True) -> None:
    """ms/query of the exact top-100 search and of each re-ranker after it (random unit vectors, dim 1280),
    and the time of a DBA (k=2, alpha=3) pass over each whole gallery, as ``imret index --dba`` runs it.

    Wall-clock and process CPU time are both printed: on a loaded machine CPU time is the steadier figure.
    """
    from imret.rerank import GalleryView, dba_vectors, parse_reranks, rerank_search

    specs = ["qe:k=2", "alpha-qe:k=3,alpha=3", "k-reciprocal:k1=10,k2=3,lambda=0.1"]
    print(f"\nre-ranking cost, ms/query as wall / CPU ({queries} queries, shortlist {shortlist}, dim 1280); "
          f"load {os.getloadavg()}")
    print("| gallery | exact search top-100 | " + " | ".join(f"+ {s}" for s in specs) + " |")
    print("|---|---|" + "---|" * len(specs))
    rng = np.random.default_rng(0)
    builds = []
    for size in sizes:
        gallery = rng.standard_normal((size, 1280), dtype=np.float32)
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        q = gallery[rng.choice(size, queries, replace=False)] + 0.05 * rng.standard_normal((queries, 1280), dtype=np.float32)
        view = GalleryView(gallery, "cosine_similarity")
        costs: dict = {}

        def measure(key, fn):
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn()
            spent = ((time.perf_counter() - wall) * 1000 / queries, (time.process_time() - cpu) * 1000 / queries)
            best = costs.get(key, (1e9, 1e9))
            costs[key] = (min(best[0], spent[0]), min(best[1], spent[1]))
            return result

        for _ in range(2):  # round-robin, best of two
            initial = measure("search", lambda: view.search(q, shortlist))
            for spec in specs:
                measure(spec, lambda spec=spec: rerank_search(q, view, parse_reranks(spec), 10, shortlist,
                                                             initial=initial))
        cell = lambda key: f"{costs[key][0]:.1f} / {costs[key][1]:.1f}"  # noqa: E731
        print(f"| {size:,} | {cell('search')} | " + " | ".join(cell(s) for s in specs) + " |", flush=True)
        if dba:
            wall, cpu = time.perf_counter(), time.process_time()
            dba_vectors(gallery, "cosine_similarity", 2, 3.0)
            builds.append((size, time.perf_counter() - wall, time.process_time() - cpu))
        del gallery, view
    for size, wall, cpu in builds:
        print(f"DBA k=2,alpha=3 index build (whole gallery, one k-NN search per item): {size:,} vectors "
              f"{wall:.1f} s wall / {cpu:.1f} s CPU ({wall * 1e6 / size:.0f} us per gallery item)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default="work_dirs/bench_quality")
    parser.add_argument("--no-finetune", action="store_true", help="use fine-tuned models only if already trained")
    parser.add_argument("--tta", nargs="*", default=[], help="TTA variants to add, e.g. flip 224,320 flip,224,320")
    parser.add_argument("--models", nargs="*", default=None,
                        help="run only models whose key contains one of these (base, tta, finetuned)")
    parser.add_argument("--timing", action="store_true", help="also measure re-ranking cost at 10k/100k")
    parser.add_argument("--flowers-epochs", type=int, default=1,
                        help="epochs of the flowers12 fine-tuning (default 1; imret finetune's own default is 3); "
                             "use a separate --work-dir per value, a trained model is reused")
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--timing-sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--no-dba-timing", action="store_true", help="skip the DBA build time in --timing")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    work = (REPO / args.work_dir).resolve()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if not args.timing_only:
        rows = quality_table(work, not args.no_finetune, args.tta, args.models, args.flowers_epochs)
        print_table(rows)
    if args.timing or args.timing_only:
        timing(sizes=tuple(args.timing_sizes), dba=not args.no_dba_timing)
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
