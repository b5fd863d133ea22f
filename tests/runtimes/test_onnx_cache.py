"""The exported ONNX graph is cached by what decides it (provenance + tensors), and written atomically."""
from __future__ import annotations

import pytest
import torch

import imret.runtimes.onnx_export as onnx_export
from imret.apis import get_model

from tiny_model import TINY



@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return get_model(TINY, pretrained=False, runtime="torch", device="cpu")


def test_cache_hit_does_not_export_again_and_weights_change_the_key(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path))
    calls = []
    real_export = onnx_export.export_onnx
    monkeypatch.setattr(onnx_export, "export_onnx", lambda *a, **k: (calls.append(a[1]), real_export(*a, **k)))
    module, provenance = tiny_model.module, tiny_model.provenance
    first = onnx_export.cached_onnx(module, provenance, (32, 32))
    again = onnx_export.cached_onnx(module, provenance, (32, 32))
    assert first == again and first.parent == tmp_path / "onnx" and len(calls) == 1
    # same provenance (random weights have no file hash) but other tensors: another graph
    parameter = next(module.parameters())
    saved = parameter.detach().clone()
    with torch.no_grad():
        parameter.add_(1.0)
    try:
        changed = onnx_export.cached_onnx(module, provenance, (32, 32))
    finally:
        with torch.no_grad():
            parameter.copy_(saved)
    assert changed != first and len(calls) == 2
    # the imret version is recorded, not compared: it does not change the key
    newer = dict(provenance, imret_version="99.0")
    assert onnx_export.cached_onnx(module, newer, (32, 32)) == first and len(calls) == 2


def test_failed_export_leaves_nothing_in_the_cache(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path))

    def broken_export(model, args, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"half a graph")
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken_export)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        onnx_export.cached_onnx(tiny_model.module, tiny_model.provenance, (32, 32))
    assert list((tmp_path / "onnx").iterdir()) == []


def test_graph_is_exported_at_the_first_encode_not_when_the_model_is_built(monkeypatch, tmp_path):
    """Commands that refuse a model (e.g. another model's index) never pay for an export."""
    import numpy as np

    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = get_model(TINY, pretrained=False, runtime="onnxruntime", device="cpu")
    assert model.runtime_name == "onnxruntime" and not (tmp_path / "onnx").exists()
    crops = [np.full((32, 32, 3), value, np.uint8) for value in (0, 128, 255)]
    vectors = model.encode_arrays(crops)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1
    reference = model.with_runtime("torch", "cpu").encode_arrays(crops)
    np.testing.assert_allclose(vectors, reference, rtol=1e-4, atol=1e-4)
