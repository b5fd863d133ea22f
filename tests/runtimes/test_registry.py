"""Choosing a runtime: names, devices, what is installed, what a bundle can run on."""
from __future__ import annotations

import pytest

from imret.runtimes import RUNTIMES, EncoderSource, RuntimeSelectionError, list_runtimes, resolve_runtime
from imret.runtimes.devices import check_device

WITH_MODULE = EncoderSource(module=object())
BUNDLE_ONLY = EncoderSource(onnx_path=lambda: None)


def test_names_are_listed_and_unknown_names_refused():
    assert list_runtimes() == ["auto", "onnxruntime", "openvino", "torch"]
    with pytest.raises(RuntimeSelectionError, match="unknown runtime 'tensorrt'; use one of auto, onnxruntime"):
        resolve_runtime("tensorrt", "cpu", WITH_MODULE)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", ""])
def test_unknown_devices_are_refused(device):
    with pytest.raises(RuntimeSelectionError, match="unknown device"):
        check_device(device)


def test_devices_are_normalised():
    assert check_device("CPU") == "cpu" and check_device("cuda:1") == "cuda:1" and check_device(None) is None


def test_auto_prefers_openvino_then_onnxruntime_then_torch_on_cpu(monkeypatch):
    installed = {"openvino": True, "onnxruntime": True, "torch": True}
    for name, cls in RUNTIMES.items():
        monkeypatch.setattr(cls, "installed", classmethod(lambda c, n=name: installed[n]))
    assert resolve_runtime("auto", "cpu", WITH_MODULE)[0].name == "openvino"
    installed["openvino"] = False
    assert resolve_runtime("auto", "cpu", WITH_MODULE)[0].name == "onnxruntime"
    installed["onnxruntime"] = False
    assert resolve_runtime("auto", "cpu", WITH_MODULE)[0].name == "torch"
    # a bundle has no torch weights: nothing left to run it
    with pytest.raises(RuntimeSelectionError, match="install onnxruntime or openvino"):
        resolve_runtime("auto", "cpu", BUNDLE_ONLY)


def test_missing_optional_runtime_says_how_to_install(monkeypatch):
    monkeypatch.setattr(RUNTIMES["openvino"], "installed", classmethod(lambda c: False))
    with pytest.raises(RuntimeSelectionError, match=r"runtime 'openvino' is not installed; install it \(pip install"):
        resolve_runtime("openvino", "cpu", WITH_MODULE)


def test_bundle_cannot_run_on_torch_and_openvino_only_on_cpu():
    with pytest.raises(RuntimeSelectionError, match="needs the model's torch weights"):
        resolve_runtime("torch", "cpu", BUNDLE_ONLY)
    with pytest.raises(RuntimeSelectionError, match="cannot run on device 'cuda'"):
        resolve_runtime("openvino", "cuda", WITH_MODULE)


def test_default_device_is_cpu_without_cuda(monkeypatch):
    import torch

    from imret.runtimes import torch_runtime
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_runtime("torch", None, WITH_MODULE) == (RUNTIMES["torch"], "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    # without an NVIDIA driver CUDA is ruled out before torch is asked (a cold search must not import it)
    monkeypatch.setattr(torch_runtime, "cuda_driver_present", lambda: False)
    assert resolve_runtime("torch", None, WITH_MODULE) == (RUNTIMES["torch"], "cpu")
    monkeypatch.setattr(torch_runtime, "cuda_driver_present", lambda: True)
    assert resolve_runtime("torch", None, WITH_MODULE) == (RUNTIMES["torch"], "cuda")
    assert resolve_runtime("auto", None, WITH_MODULE) == (RUNTIMES["torch"], "cuda")
