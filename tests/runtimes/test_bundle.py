"""Export bundles: round trip against torch, same provenance, corrupt or missing files refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imret.apis import get_model
from imret.apis.bundle_model import export_bundle
from imret.runtimes import BundleError

REPO_SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def bundle(torch_model, tmp_path_factory) -> Path:
    return export_bundle(torch_model, tmp_path_factory.mktemp("bundles") / "lite0")


def _cosines(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_bundle_files_are_plain_and_listed(bundle):
    assert sorted(p.name for p in bundle.iterdir()) == ["encoder.onnx", "manifest.json", "preprocessing.json",
                                                        "provenance.json"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["dim"] == 1280 and set(manifest["files"]) == {"encoder.onnx", "preprocessing.json",
                                                                  "provenance.json"}
    preprocessing = json.loads((bundle / "preprocessing.json").read_text())
    assert (preprocessing["resize"], preprocessing["crop"], preprocessing["interpolation"]) == (256, 224, "bicubic")
    assert preprocessing["mean"] == [127.5] * 3 and preprocessing["channel_order"] == "RGB"


@pytest.mark.parametrize("runtime", ["auto", "onnxruntime"])
def test_bundle_encodes_like_torch_with_the_same_provenance(bundle, torch_model, real_photos, runtime):
    model = get_model(bundle, runtime=runtime)
    assert model.module is None and model.name == torch_model.name
    assert model.provenance == torch_model.provenance
    assert model.preprocessing == torch_model.preprocessing
    vectors = model.encode_images(real_photos, batch_size=5).vectors
    reference = torch_model.encode_images(real_photos, batch_size=5).vectors
    assert _cosines(vectors, reference).min() >= 0.9999


def test_bundle_refuses_torch_runtime(bundle):
    with pytest.raises(ValueError, match="needs the model's torch weights"):
        get_model(bundle, runtime="torch")


def _copy(bundle: Path, target: Path) -> Path:
    target.mkdir()
    for path in bundle.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_corrupt_or_missing_files_are_refused(bundle, tmp_path):
    corrupt = _copy(bundle, tmp_path / "corrupt")
    data = bytearray((corrupt / "encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (corrupt / "encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"encoder.onnx is corrupt .*re-export"):
        get_model(corrupt)
    missing = _copy(bundle, tmp_path / "missing")
    (missing / "preprocessing.json").unlink()
    with pytest.raises(BundleError, match="missing preprocessing.json"):
        get_model(missing)
    edited = _copy(bundle, tmp_path / "edited")
    (edited / "provenance.json").write_text('{"model": "something else"}')
    with pytest.raises(BundleError, match="provenance.json is corrupt"):
        get_model(edited)
    broken_manifest = _copy(bundle, tmp_path / "manifest")
    (broken_manifest / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest.json is unreadable"):
        get_model(broken_manifest)
    with pytest.raises(BundleError, match="not an imret export bundle"):
        get_model(tmp_path)


def test_export_refuses_a_non_empty_folder_and_writes_nothing(torch_model, tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not an empty folder"):
        export_bundle(torch_model, target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_bundle_encodes_image_files_with_torch_blocked(bundle, torch_model, real_photos):
    """In a fresh process where importing torch (or timm, or mmengine) fails, a bundle encodes image
    files -- decoding, resize, crop and normalization included -- like the torch runtime does."""
    crops = [torch_model.transform(path) for path in real_photos[:3]]  # pipeline outputs: HWC uint8 BGR
    folder = Path(bundle).parent / "arrays"
    folder.mkdir(exist_ok=True)
    np.save(folder / "crops.npy", np.stack(crops))
    script = (
        "import json, sys\n"
        "for name in ('torch', 'timm', 'mmengine'):\n"
        "    sys.modules[name] = None  # any import of them now raises ImportError\n"
        "import numpy as np\n"
        "from imret.apis import get_model\n"
        f"model = get_model({str(bundle)!r})\n"
        f"arrays = model.encode_arrays(list(np.load({str(folder / 'crops.npy')!r})))\n"
        f"files = model.encode_images({list(real_photos)!r}, batch_size=5)\n"
        "print(json.dumps({'runtime': model.runtime_name, 'arrays': arrays.tolist(), 'files': files.vectors.tolist(),\n"
        "                  'failed': files.failed}))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_SRC), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runtime"] in ("openvino", "onnxruntime") and result["failed"] == {}
    assert _cosines(np.asarray(result["arrays"], np.float32), torch_model.encode_arrays(crops)).min() >= 0.9999
    reference = torch_model.encode_images(real_photos, batch_size=5).vectors
    assert _cosines(np.asarray(result["files"], np.float32), reference).min() >= 0.9999
