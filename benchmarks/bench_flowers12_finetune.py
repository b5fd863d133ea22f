"""Fine-tuning EfficientNet-Lite0 with ArcFace on flowers12: retrieval before vs after, on CPU.

Runs, from the repository root (needs flowers12 in $IMRET_DATA_ROOT, default ../shared/datasets):

    .venv/bin/python benchmarks/bench_flowers12_finetune.py [--work-dir DIR] [--epochs N] [--cfg-options ...]

1. saves the untrained model of the config (ImageNet encoder, random ArcFace head) as a checkpoint and
   evaluates it with `imret test` (flowers12/test, each image queries the other test images);
2. trains with `imret train` (the config's schedule, or --epochs);
3. evaluates the last checkpoint with `imret test`;
and prints a table of Recall@1, Recall@5 and mAP before and after, with the training time.
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
    args = parser.parse_args()
    if not (Path(os.environ.get("IMRET_DATA_ROOT", DATA_ROOT)) / "flowers12").is_dir():
        sys.exit("needs flowers12 in $IMRET_DATA_ROOT (default: ../shared/datasets beside the repository)")
    work_dir = (REPO_ROOT / args.work_dir).resolve()

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
    last = Path((work_dir / "train" / "last_checkpoint").read_text().strip())
    after = test_metrics(args.config, last, work_dir / "test_after", [])

    print(f"\nflowers12 test (240 images, each queries the other 239); training {train_seconds:.0f} s "
          f"(incl. one validation), checkpoint {last.name}")
    print(f"{'metric':<22}{'before':>10}{'after':>10}{'after/before':>14}")
    for key in KEYS:
        print(f"{key:<22}{before[key]:>10.2f}{after[key]:>10.2f}{after[key] / before[key]:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
