"""OpenVINO's compiled-model cache: reused for the same graph, never for a graph replaced in place."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from imret.runtimes import EncoderSource  # noqa: E402
from imret.runtimes.openvino_cache import compiled_cache_dir  # noqa: E402
from imret.runtimes.openvino_runtime import OpenVinoRuntime  # noqa: E402


def write_linear_graph(path: Path, weights: np.ndarray) -> None:
    """``images`` (N, 3, 4, 4) -> flatten -> @ weights (48, 5) -> ``features`` (N, 5)."""
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "weights"], ["features"])],
        "linear", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 4, 4])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 5])],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "weights")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("IMRET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IMRET_OPENVINO_CACHE", raising=False)
    return tmp_path / "cache"


def _encode(path: Path, batch: np.ndarray, sha256=None) -> np.ndarray:
    return OpenVinoRuntime.build(EncoderSource(onnx_path=lambda: path, onnx_sha256=sha256), "cpu").encode(batch)


def test_same_graph_reuses_its_compiled_model_and_a_replaced_graph_does_not(cache_root, tmp_path):
    gen = np.random.default_rng(0)
    first, second = gen.standard_normal((48, 5)), gen.standard_normal((48, 5))
    batch = gen.standard_normal((3, 3, 4, 4)).astype(np.float32)
    graph = tmp_path / "bundle" / "encoder.onnx"
    graph.parent.mkdir()
    write_linear_graph(graph, first)
    expected_first = batch.reshape(3, -1) @ first.astype(np.float32)

    np.testing.assert_allclose(_encode(graph, batch), expected_first, rtol=1e-4, atol=1e-4)
    folder = compiled_cache_dir(graph)
    blobs = sorted(folder.glob("*.blob"))
    assert len(blobs) == 1, "the compiled model was not cached"
    stamp = blobs[0].stat().st_mtime_ns
    np.testing.assert_allclose(_encode(graph, batch), expected_first, rtol=1e-4, atol=1e-4)
    assert sorted(folder.glob("*.blob")) == blobs and blobs[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt

    write_linear_graph(graph, second)  # same path, other weights (a bundle exported again in place)
    assert compiled_cache_dir(graph) != folder
    np.testing.assert_allclose(_encode(graph, batch), batch.reshape(3, -1) @ second.astype(np.float32),
                               rtol=1e-4, atol=1e-4)


def test_a_known_content_hash_keys_the_cache_and_caching_can_be_turned_off(cache_root, tmp_path, monkeypatch):
    graph = tmp_path / "encoder.onnx"
    write_linear_graph(graph, np.ones((48, 5)))
    assert compiled_cache_dir(graph, "ab" * 32) == compiled_cache_dir(tmp_path / "elsewhere.onnx", "ab" * 32)
    assert compiled_cache_dir(graph, "ab" * 32) != compiled_cache_dir(graph, "cd" * 32)
    monkeypatch.setenv("IMRET_OPENVINO_CACHE", "0")
    assert compiled_cache_dir(graph) is None
    batch = np.ones((2, 3, 4, 4), np.float32)
    np.testing.assert_allclose(_encode(graph, batch), np.full((2, 5), 48.0), rtol=1e-5)
    assert not (cache_root / "openvino").exists() or not any((cache_root / "openvino").rglob("*.blob"))


def test_a_truncated_compiled_model_is_compiled_again(cache_root, tmp_path):
    """A blob cut short (a crash or a concurrent writer): OpenVINO compiles the graph again, same vectors."""
    weights = np.random.default_rng(1).standard_normal((48, 5))
    graph = tmp_path / "encoder.onnx"
    write_linear_graph(graph, weights)
    batch = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    expected = batch.reshape(2, -1) @ weights.astype(np.float32)
    np.testing.assert_allclose(_encode(graph, batch), expected, rtol=1e-4, atol=1e-4)
    (blob,) = compiled_cache_dir(graph).glob("*.blob")
    size = blob.stat().st_size
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:size // 3])
    np.testing.assert_allclose(_encode(graph, batch), expected, rtol=1e-4, atol=1e-4)
    # written again in full (a blob's size can vary by a few bytes from one compilation to the next)
    assert blob.stat().st_size > size * 0.9
