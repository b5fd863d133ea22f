"""Fine-tuning EfficientNet-Lite0 with ArcFace on flowers12: retrieval before vs after, on CPU.

Runs, from the repository root (needs flowers12 in $IMRET_DATA_ROOT, default ../shared/datasets):

    .venv/bin/python benchmarks/bench_flowers12_finetune.py [--work-dir DIR] [--epochs N] [--cfg-options ...]

1. saves the untrained model of the config (ImageNet encoder, random ArcFace head) as a checkpoint and
   evaluates it with `imret test` (flowers12/test, each image queries the other test images);
2. trains with `imret train` (the config's schedule, or --epochs);
3. evaluates the last checkpoint with `imret test`;
4. puts the same checkpoint through the real index path: `imret index flowers12/test --model
   WORK/train/CONFIG.py --checkpoint CKPT` (the config `imret train` saved beside its checkpoints),
   then `imret search INDEX flowers12/test --topk ALL --json --model ... --checkpoint CKPT`; drops each
   query's own image from its results (as `imret test` does) and scores the rankings with imret's
   metric functions;
and prints a table of Recall@1, Recall@5 and mAP before and after training, and of `imret test` vs
index + search for the trained checkpoint with their difference. ``--reuse`` skips steps 1-2 when the
work folder already holds a trained checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = REPO_ROOT.parent / "shared" / "datasets"
DEFAULT_CONFIG = "arcface/efficientnet-lite0-arcface_flowers12"  # shipped with imret
KEYS = ("retrieval/Recall@1", "retrieval/Recall@5", "retrieval/mAP")


def imret(*args: str) -> str:
    """Run the ``imret`` command from the repository root; its stdout (stderr is passed through)."""
    command = [sys.executable, "-m", "imret.cli.main", *args]
    print("$ imret " + " ".join(args), flush=True)
    env = dict(os.environ)
    env.setdefault("IMRET_DATA_ROOT", str(DATA_ROOT))
    result = subprocess.run(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"imret {args[0]} failed with exit code {result.returncode}")
    return result.stdout


def test_metrics(config: str, checkpoint: Path, work_dir: Path, options: list[str]) -> dict:
    """Metrics printed by ``imret test --json`` (its whole stdout)."""
    extra = ["--cfg-options", *options] if options else []
    return json.loads(imret("test", config, str(checkpoint), "--work-dir", str(work_dir), "--json", *extra))


def index_search_metrics(config: str, checkpoint: Path, work_dir: Path) -> dict:
    """Recall@1/5 and mAP of ``checkpoint`` through ``imret index`` + ``imret search`` over flowers12/test:
    every test image queries the index of all test images; its own entry is dropped from its ranking."""
    from imret.evaluation.ranking import average_precision, recall_hits

    data_root = Path(os.environ.get("IMRET_DATA_ROOT", DATA_ROOT))
    gallery = data_root / "flowers12" / "test"
    index = work_dir / "index"
    imret("index", str(gallery), "--out", str(index), "--model", config, "--checkpoint", str(checkpoint),
          "--rebuild", "--json", "--no-progress")
    count = sum(1 for p in gallery.rglob("*") if p.is_file())
    # the index records the weights by hash, not where they are: search names the checkpoint again
    results = json.loads(imret("search", str(index), str(gallery), "--topk", str(count), "--json",
                               "--model", config, "--checkpoint", str(checkpoint), "--no-progress"))
    species = lambda path: Path(path).parent.name  # noqa: E731  (flowers12/test/SPECIES/image.jpg)
    rows, totals = [], []
    for entry in results:
        own = str(Path(entry["query_abs"]).resolve())
        ranked = [m for m in sorted(entry["matches"], key=lambda m: m["rank"])
                  if str(Path(m["path"]).resolve()) != own]
        if len(ranked) != count - 1:
            sys.exit(f"search returned {len(ranked)} other images for {entry['query']}, expected {count - 1}")
        target = species(own)
        rows.append([species(m["path"]) == target for m in ranked])
        totals.append(sum(rows[-1]))
    relevance = torch.tensor(rows, dtype=torch.bool)
    num_relevant = torch.tensor(totals)
    hits = recall_hits(relevance, [1, 5])
    return {"retrieval/Recall@1": float(hits[:, 0].mean()) * 100, "retrieval/Recall@5": float(hits[:, 1].mean()) * 100,
            "retrieval/mAP": float(average_precision(relevance, num_relevant).mean()) * 100,
            "queries": len(results)}


def save_untrained(config: str, path: Path, options: list[str]) -> None:
    """The config's model before any training, as a checkpoint ``imret test`` can load."""
    from mmengine.registry import DefaultScope

    from imret.engine import load_config
    from imret.registry import MODELS

    cfg = load_config(config, dict(arg.split("=", 1) for arg in options) if options else None,
                      data_root=os.environ.get("IMRET_DATA_ROOT", DATA_ROOT))
    with DefaultScope.overwrite_default_scope("imret"):
        model = MODELS.build(cfg.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "meta": {"note": "untrained"}}, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--work-dir", default="work_dirs/bench_flowers12_finetune")
    parser.add_argument("--epochs", type=int, help="override train_cfg.max_epochs (and val_interval)")
    parser.add_argument("--cfg-options", nargs="*", default=[], help="extra key=value overrides for training")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the trained checkpoint in the work folder (skip steps 1-2) when there is one")
    args = parser.parse_args()
    if not (Path(os.environ.get("IMRET_DATA_ROOT", DATA_ROOT)) / "flowers12").is_dir():
        sys.exit("needs flowers12 in $IMRET_DATA_ROOT (default: ../shared/datasets beside the repository)")
    work_dir = (REPO_ROOT / args.work_dir).resolve()

    last_file = work_dir / "train" / "last_checkpoint"
    before, train_seconds = None, None
    if not (args.reuse and last_file.is_file()):
        untrained = work_dir / "untrained.pth"
        save_untrained(args.config, untrained, [])
        before = test_metrics(args.config, untrained, work_dir / "test_before", [])
        train_options = list(args.cfg_options)
        if args.epochs:
            train_options += [f"train_cfg.max_epochs={args.epochs}", f"train_cfg.val_interval={args.epochs}"]
        start = time.perf_counter()
        imret("train", args.config, "--work-dir", str(work_dir / "train"),
              *(["--cfg-options", *train_options] if train_options else []))
        train_seconds = time.perf_counter() - start
    last = Path(last_file.read_text().strip())
    after = test_metrics(args.config, last, work_dir / "test_after", [])
    start = time.perf_counter()
    saved_config = work_dir / "train" / (Path(args.config).stem + ".py")  # written by imret train
    indexed = index_search_metrics(str(saved_config), last, work_dir)
    index_seconds = time.perf_counter() - start

    if before is not None:
        print(f"\nflowers12 test (240 images, each queries the other 239); training {train_seconds:.0f} s "
              f"(incl. one validation), checkpoint {last.name}")
        print(f"{'metric':<22}{'before':>10}{'after':>10}{'after/before':>14}")
        for key in KEYS:
            print(f"{key:<22}{before[key]:>10.2f}{after[key]:>10.2f}{after[key] / before[key]:>14.3f}")
    print(f"\ntrained checkpoint {last.name}: `imret test` vs `imret index` + `imret search` "
          f"({indexed['queries']} queries, own image dropped; index + search {index_seconds:.0f} s)")
    print(f"{'metric':<22}{'imret test':>12}{'index+search':>14}{'difference':>12}")
    for key in KEYS:
        print(f"{key:<22}{after[key]:>12.2f}{indexed[key]:>14.2f}{indexed[key] - after[key]:>+12.2f}")
    gap = abs(indexed["retrieval/mAP"] - after["retrieval/mAP"])
    print(f"mAP difference {gap:.2f} points: {'within' if gap <= 0.5 else 'MORE than'} 0.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
