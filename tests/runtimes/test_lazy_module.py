"""With the ONNX graph cached, a model encodes without building its torch module; random weights never
share a cache entry keyed by provenance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import imret.apis.zoo as zoo
import imret.runtimes.onnx_export as onnx_export
from imret.apis import DEFAULT_MODEL, get_model

from tiny_model import TINY


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_warm_cache_encodes_without_building_the_module(torch_model, real_photos, monkeypatch):
    # warm the cache the way a first run does (export from the module)
    onnx_export.cached_onnx(torch_model.module, torch_model.provenance, torch_model.preprocessing.input_size)
    built = []
    real_build = zoo.build_module
    monkeypatch.setattr(zoo, "build_module", lambda cfg: (built.append(cfg), real_build(cfg))[1])
    model = get_model(DEFAULT_MODEL, runtime="onnxruntime", device="cpu")
    result = model.encode_images(real_photos, batch_size=6)
    assert built == [] and not model.source.module_loaded
    assert model.provenance == torch_model.provenance and model.similarity == "cosine_similarity"
    reference = torch_model.encode_images(real_photos, batch_size=6)
    assert result.ok == reference.ok == list(range(len(real_photos)))
    assert _cosines(result.vectors, reference.vectors).min() >= 0.9999
    # the module is still there for whoever asks (fine-tuning, export), built on first read
    assert model.module is not None and len(built) == 1 and model.source.module_loaded




def test_warm_cache_encodes_files_in_a_process_without_torch_timm_or_mmengine(torch_model, real_photos):
    """get_model + encode_images on real photos with every non-torch runtime, in a fresh process where
    importing torch, timm or mmengine fails; the vectors are the torch runtime's."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    onnx_export.cached_onnx(torch_model.module, torch_model.provenance, torch_model.preprocessing.input_size)
    script = (
        "import json, sys\n"
        "for name in ('torch', 'timm', 'mmengine'):\n"
        "    sys.modules[name] = None  # any import of them now raises ImportError\n"
        "from imret.apis import DEFAULT_MODEL, get_model\n"
        "out = {}\n"
        "for runtime in ('auto', 'onnxruntime', 'openvino'):\n"
        "    model = get_model(DEFAULT_MODEL, runtime=runtime)\n"
        f"    result = model.encode_images({list(real_photos)!r}, batch_size=6)\n"
        "    out[runtime] = [model.runtime_name, result.vectors.tolist(), result.failed]\n"
        "print(json.dumps(out))\n")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    reference = torch_model.encode_images(real_photos, batch_size=6).vectors
    assert {runtime: name for runtime, (name, _, _) in out.items()} == {
        "auto": "openvino", "onnxruntime": "onnxruntime", "openvino": "openvino"}
    for runtime, (_, vectors, failed) in out.items():
        assert failed == {}, runtime
        assert _cosines(np.asarray(vectors, np.float32), reference).min() >= 0.9999, runtime


def test_random_weights_never_share_a_graph(monkeypatch, tmp_path):
    """Two random-weight models have one provenance (no weights hash) but each gets its own graph."""
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path))
    crops = [np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8) for seed in range(3)]
    outputs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = get_model(TINY, pretrained=False, runtime="onnxruntime", device="cpu")
        assert model.provenance["weights_sha256"] is None
        vectors = model.encode_arrays(crops)
        np.testing.assert_allclose(vectors, model.with_runtime("torch", "cpu").encode_arrays(crops),
                                   rtol=1e-4, atol=1e-4)
        outputs.append(vectors)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2
    assert not np.allclose(outputs[0], outputs[1], atol=1e-3)
    # the zoo's random-weights model has no hash either, and its key cannot be made without tensors
    provenance = get_model(DEFAULT_MODEL, pretrained=False, runtime="onnxruntime", device="cpu").provenance
    assert provenance["weights_sha256"] is None
    with pytest.raises(ValueError, match="needs its module"):
        onnx_export.export_key(None, provenance, (224, 224))


def test_provenance_key_follows_weights_hash_and_config():
    base = {"model": "m", "encoder": {"type": "X"}, "weights_sha256": "a" * 64, "preprocessing": [],
            "encoding_version": 1, "imret_version": "1.0"}
    key = onnx_export.export_key(None, base, (224, 224))
    assert onnx_export.export_key(object(), base, (224, 224)) == key  # the module is not consulted
    assert onnx_export.export_key(None, dict(base, imret_version="2.0"), (224, 224)) == key
    for changed in (dict(base, weights_sha256="b" * 64), dict(base, encoder={"type": "Y"}),
                    dict(base, preprocessing=[{"type": "CenterCrop"}])):
        assert onnx_export.export_key(None, changed, (224, 224)) != key
    assert onnx_export.export_key(None, base, (256, 256)) != key


def test_a_module_changed_by_its_caller_gets_its_own_graph(monkeypatch, tmp_path):
    """Weights named by hash key the graph by provenance, until a caller takes the module (and may train it)."""
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(5)
    checkpoint = tmp_path / "tiny.pth"
    seed_model = get_model(TINY, pretrained=False, runtime="torch", device="cpu")
    torch.save({"state_dict": seed_model.module.state_dict()}, checkpoint)
    crops = [np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8) for seed in range(3)]

    model = get_model(TINY, pretrained=str(checkpoint), runtime="onnxruntime", device="cpu")
    assert model.provenance["weights_sha256"] is not None
    before = model.encode_arrays(crops)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    # a second model of the same checkpoint reuses that graph
    assert np.array_equal(get_model(TINY, pretrained=str(checkpoint), runtime="onnxruntime",
                                    device="cpu").encode_arrays(crops), before)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    with torch.no_grad():
        for parameter in model.module.parameters():
            parameter.mul_(0.5)
    changed = model.with_runtime("onnxruntime", "cpu").encode_arrays(crops)
    np.testing.assert_allclose(changed, model.with_runtime("torch", "cpu").encode_arrays(crops), rtol=1e-4, atol=1e-4)
    assert not np.allclose(changed, before, atol=1e-3)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2
