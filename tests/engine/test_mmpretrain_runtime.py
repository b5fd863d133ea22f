"""mmpretrain's runtime base (same type names and fields) runs `imret test`; --json, --out, --show-dir."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from engine_fixtures import make_tiny_images, write_tiny_config
from mmengine.registry import DefaultScope
from PIL import Image

from imret.apis.match_grid import grid_size
from imret.cli.main import main
from imret.engine import load_config
from imret.registry import MODELS

SRC = Path(__file__).resolve().parents[2] / "src"

# the fields and type names of mmpretrain's configs/_base_/default_runtime.py (scope changed to imret),
# plus a log processor
MMPRETRAIN_RUNTIME = """
default_scope = 'imret'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
"""


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    """(config, checkpoint, number of test queries) for a config on mmpretrain's runtime base."""
    root = tmp_path_factory.mktemp("ported")
    data = make_tiny_images(root / "data", train_per_class=1, test_per_class=2)
    (root / "mmp_runtime.py").write_text(MMPRETRAIN_RUNTIME)
    write_tiny_config(root / "parts.py", data, runtime=False)
    config = root / "ported.py"
    config.write_text("_base_ = ['mmp_runtime.py', 'parts.py']\n")
    cfg = load_config(config)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope("imret"):
        model = MODELS.build(cfg.model)
    checkpoint = root / "weights.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {}}, checkpoint)
    return config, checkpoint, 6


def test_runtime_builds_imret_types(ported):
    from imret.engine import build_runner, configure_testing
    from imret.engine.hooks import CheckpointHook, VisualizationHook
    from imret.visualization import UniversalVisualizer

    config, checkpoint, _ = ported
    cfg = configure_testing(load_config(config), config, str(checkpoint),
                            work_dir=str(Path(checkpoint).parent / "w_build"))
    runner = build_runner(cfg)
    assert isinstance(runner.visualizer, UniversalVisualizer)
    hooks = {type(hook) for hook in runner.hooks}
    assert {CheckpointHook, VisualizationHook} <= hooks


def test_imret_test_json_stdout_parses(ported, tmp_path):
    config, checkpoint, _ = ported
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "imret.cli.main", "test", str(config), str(checkpoint),
                             "--work-dir", str(tmp_path / "w"), "--json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)  # stdout is the metrics and nothing else
    assert set(metrics) == {"retrieval/Recall@1", "retrieval/Recall@2", "retrieval/mAP"}
    assert all(0.0 <= value <= 100.0 for value in metrics.values())
    assert "Config:" in result.stderr and "UniversalVisualizer" in result.stderr  # the log went to stderr
    logs = list((tmp_path / "w").rglob("*.log"))
    assert logs and "Config:" in logs[0].read_text()  # and to the work directory


def test_out_and_show_dir(ported, tmp_path, capsys):
    config, checkpoint, queries = ported
    preds, shows = tmp_path / "preds.json", tmp_path / "grids"
    assert main(["test", str(config), str(checkpoint), "--work-dir", str(tmp_path / "w1"), "--json",
                 "--out", str(preds), "--show-dir", str(shows)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    records = json.loads(preds.read_text())
    assert len(records) == queries
    for record in records:
        scores = np.asarray(record["pred_score"])
        assert scores.shape == (queries,)  # one score per gallery item, in gallery order
        assert record["pred_label"] == sorted(range(queries), key=lambda i: (-scores[i], i))
        assert Path(record["img_path"]).is_file()
    grids = sorted(shows.glob("*.png"))
    assert len(grids) == queries  # --interval 1: every test query
    with Image.open(grids[0]) as grid:
        assert grid.size == grid_size(5 if queries >= 5 else queries)  # query + its 5 best matches

    out = tmp_path / "metrics.yaml"
    assert main(["test", str(config), str(checkpoint), "--work-dir", str(tmp_path / "w2"),
                 "--out", str(out), "--out-item", "metrics"]) == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(out.read_text()) == pytest.approx(metrics)
    for key, value in metrics.items():  # the default output: one "key  value" line per metric
        assert any(line.split() == [key, str(value)] for line in printed.splitlines()), printed


def test_pickle_output_is_refused(ported, tmp_path, capsys):
    config, checkpoint, _ = ported
    out = tmp_path / "results.pkl"
    assert main(["test", str(config), str(checkpoint), "--work-dir", str(tmp_path / "w"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not write pickle" in err and str(out) in err and not out.exists()
