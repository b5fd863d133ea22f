"""Device names accepted by ``--device`` and the default device of a runtime."""
from __future__ import annotations

import glob
import os
import re
import sys
from typing import Optional

from .errors import RuntimeSelectionError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps|xpu(:\d+)?)$")
DEVICE_HELP = "cpu, cuda, cuda:N, mps or xpu:N"


def check_device(device: Optional[str]) -> Optional[str]:
    """``device`` normalised ('CPU' -> 'cpu'); an unknown name raises ``RuntimeSelectionError``."""
    if device is None:
        return None
    text = str(device).strip().lower()
    if not _DEVICE.match(text):
        raise RuntimeSelectionError(f"unknown device {device!r}; use {DEVICE_HELP}")
    return text


def device_kind(device: str) -> str:
    """'cuda' for 'cuda:1', 'cpu' for 'cpu'."""
    return device.split(":", 1)[0]


def device_index(device: str) -> int:
    """The ordinal of 'cuda:1' (1); 0 when none is given."""
    return int(device.split(":", 1)[1]) if ":" in device else 0


def cuda_driver_present() -> bool:
    """False only when no CUDA device can be there: on Linux without the NVIDIA driver (no
    /proc/driver/nvidia, no /dev/nvidia*, no WSL GPU device) and on macOS. Elsewhere True, so callers
    ask the library (a True answer imports it; this check does not)."""
    if sys.platform == "darwin":
        return False
    if not sys.platform.startswith("linux"):
        return True
    return (os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/dxg")
            or bool(glob.glob("/dev/nvidia[0-9]*")))


def torch_cuda_available() -> bool:
    """Whether torch sees a CUDA device; False without torch (checked only where torch is already needed)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
