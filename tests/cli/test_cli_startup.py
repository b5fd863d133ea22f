"""Start-up: parsing never loads the heavy libraries; index and search never load the training stack;
an unchanged gallery is re-indexed without building a model."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from cli_helpers import PHOTOS, copy_photos

HEAVY = ("torch", "mmengine", "faiss", "timm", "onnxruntime", "openvino", "fastapi", "uvicorn", "pymilvus",
         "numpy", "PIL", "cv2", "imret.models", "imret.engine")
# (mmengine.optim still loads: mmengine.model's BaseModel, which the torch retrievers derive from, imports it.)
TRAINING_STACK = ("mmengine.runner", "mmengine.hooks", "mmengine.visualization", "mmengine.evaluator",
                  "imret.engine", "imret.evaluation")


def _run_main(args: list, report: tuple, timeout: float = 300) -> tuple[int, dict, str, str, float]:
    """Run ``imret.cli.main.main(args)`` in a fresh interpreter; which of ``report`` got imported."""
    code = textwrap.dedent(f"""
        import json, sys
        from imret.cli.main import main
        try:
            code = main({list(map(str, args))!r})
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        loaded = {{prefix: sorted(m for m in sys.modules if m == prefix or m.startswith(prefix + "."))
                  for prefix in {report!r}}}
        sys.stdout.flush()
        sys.stderr.write("\\n@@" + json.dumps({{"code": code, "loaded": loaded}}) + "\\n")
    """)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    err, marker, tail = result.stderr.rpartition("\n@@")
    assert marker, f"the child did not finish: {result.stderr[-2000:]}"
    info = json.loads(tail)
    return info["code"], {k: v for k, v in info["loaded"].items() if v}, result.stdout, err, seconds


@pytest.mark.parametrize("args, expected_code", [
    (["--help"], 0),
    (["--version"], 0),
    (["index", "--help"], 0),
    (["search", "--help"], 0),
    (["train", "--help"], 0),
    (["test", "--help"], 0),
    (["serve", "--help"], 0),
    (["search"], 2),                        # missing arguments
    (["index", "photos"], 2),               # --out missing
    (["search", "idx", "q.jpg", "--topk", "x"], 2),
    (["no-such-command"], 2),
])
def test_parsing_loads_nothing_heavy(args, expected_code):
    code, loaded, stdout, stderr, seconds = _run_main(args, HEAVY)
    print(f"imret {' '.join(args)}: {seconds:.2f} s (whole interpreter)")
    assert code == expected_code, stderr
    assert loaded == {}, f"imret {' '.join(args)} imported {loaded}"
    assert "Traceback" not in stderr
    assert seconds < 10, "parsing took far too long even for a loaded machine"


def test_version_prints_the_package_version():
    from imret import __version__

    code, _, stdout, _, _ = _run_main(["--version"], ())
    assert code == 0 and stdout.strip() == f"imret {__version__}"


def test_index_and_search_load_no_training_stack(tmp_path):
    gallery = tmp_path / "gallery"
    copy_photos(gallery, PHOTOS[:2])
    index = tmp_path / "index"
    code, loaded, stdout, stderr, _ = _run_main(["index", gallery, "--out", index, "--json", "-v"], TRAINING_STACK)
    assert code == 0, stderr
    assert json.loads(stdout)["model_loaded"] is True
    assert "imret index: loading model efficientnet-lite0_gem ..." in stderr
    assert loaded == {}, f"imret index imported the training stack: {loaded}"

    code, loaded, stdout, stderr, _ = _run_main(["search", index, gallery / PHOTOS[0], "--json", "-q"],
                                                TRAINING_STACK)
    assert code == 0, stderr
    assert json.loads(stdout)[0]["matches"][0]["id"] == PHOTOS[0]
    assert loaded == {}, f"imret search imported the training stack: {loaded}"

    # Nothing changed: the folder is scanned and compared, no model is built (timm still loads: the
    # default model's preprocessing, part of its provenance, comes from timm's pretrained config).
    code, loaded, stdout, stderr, seconds = _run_main(
        ["index", gallery, "--out", index, "--json", "-v"], ("imret.models", "mmengine.model", "onnxruntime",
                                                             "openvino"))
    print(f"unchanged re-index: {seconds:.2f} s (whole interpreter)")
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["model_loaded"] is False and summary["unchanged"] == 2 and summary["encoded"] == 0
    assert "loading model" not in stderr
    assert loaded == {}, f"an unchanged re-index imported model code: {loaded}"


def test_cli_launchers_match_the_engine():
    from imret.cli.engine_job import LAUNCHERS
    from imret.engine.runner import LAUNCHERS as ENGINE_LAUNCHERS

    assert LAUNCHERS == ENGINE_LAUNCHERS


def test_cfg_options_are_parsed_by_mmengine_when_used():
    from imret.cli.engine_job import parse_cfg_options
    from imret.cli.main import build_parser

    args = build_parser().parse_args(["test", "c.py", "w.pth", "--cfg-options", "a.b=1", "c=[1,2]", "d=x"])
    assert parse_cfg_options(args.cfg_options) == {"a.b": 1, "c": [1, 2], "d": "x"}
