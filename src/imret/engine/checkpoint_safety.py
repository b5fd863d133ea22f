"""Weights-only loading of imret's own training checkpoints, without trusting any other pickle.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses every Python object that is not
a tensor or plain container. mmengine's checkpoints also hold the runner's message hub: ``HistoryBuffer``
objects with numpy arrays and numpy scalars. :func:`install_checkpoint_safety` (run when
``imret.engine`` is imported) does two things:

* ``HistoryBuffer`` is pickled from its data alone. By default it also pickles its class-level
  statistics functions, which would need ``builtins.getattr`` on load -- a global that no allowlist
  should contain.
* exactly the globals needed to rebuild those buffers and numpy values are added to torch's
  weights-only allowlist (:data:`CHECKPOINT_SAFE_GLOBALS`); anything else (e.g. ``os.system``) is still
  refused.
"""
from __future__ import annotations

import copyreg
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_STATISTICS_KEY = "statistics_methods"


def _numpy_dtype_classes() -> list[type]:
    """The dtype classes of numpy's numeric and boolean dtypes (what a pickled dtype is rebuilt as)."""
    codes = ("?", "b", "B", "h", "H", "i", "I", "l", "L", "q", "Q", "e", "f", "d", "g", "F", "D")
    classes: list[type] = []
    for code in codes:
        cls = type(np.dtype(code))
        if cls is not np.dtype and cls not in classes:
            classes.append(cls)
    return classes


def _numpy_core_globals() -> list[Any]:
    """numpy's array/scalar reconstructors, under the module names numpy 1.x and 2.x pickle them with."""
    core = getattr(np, "_core", None) or np.core  # numpy >= 2 renamed np.core to np._core
    reconstruct, scalar = core.multiarray._reconstruct, core.multiarray.scalar
    return [
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (scalar, "numpy._core.multiarray.scalar"),
        (scalar, "numpy.core.multiarray.scalar"),
    ]


#: The only non-torch globals imret adds to the weights-only allowlist.
CHECKPOINT_SAFE_GLOBALS: list[Any] = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    *_numpy_dtype_classes(),
    *_numpy_core_globals(),
]


def reduce_history_buffer(buffer: HistoryBuffer) -> tuple:
    """Pickle a ``HistoryBuffer`` as its class plus its data (no statistics functions)."""
    state = {key: value for key, value in vars(buffer).items() if key != _STATISTICS_KEY}
    return copyreg.__newobj__, (type(buffer),), state


def install_checkpoint_safety() -> None:
    """Make imret's checkpoints weights-only loadable (idempotent; see the module docstring)."""
    copyreg.pickle(HistoryBuffer, reduce_history_buffer)
    torch.serialization.add_safe_globals(CHECKPOINT_SAFE_GLOBALS)


def refusal_reason(error: BaseException) -> str:
    """The line of torch's weights-only refusal that names the offending global (not the advice to
    switch safety off)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line or "unrecognized" in line or "Can only" in line:
            return line
    return lines[0] if lines else type(error).__name__


def load_checkpoint_file(path: str, map_location: Any = "cpu") -> Any:
    """``torch.load`` of an imret training checkpoint with weights-only loading, allowlist installed."""
    install_checkpoint_safety()
    return torch.load(path, map_location=map_location, weights_only=True)


install_checkpoint_safety()
