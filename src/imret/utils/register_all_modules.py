"""The ``imret`` registry scope outside a runner (mmpretrain's ``register_all_modules``).

Config ``type`` names such as ``CustomDataset`` live in imret's child registries. mmengine looks
there only when the default scope is ``imret``: a runner built from an imret config sets it, but
``Runner.build_dataloader(...)`` or ``DATASETS.build(...)`` called directly do not. Importing
``imret`` therefore makes ``imret`` the default scope as soon as mmengine's registry is loaded --
unless a default scope is already set, which is kept. ``import imret`` itself stays light: when
mmengine is not loaded yet, the scope is set right after it is.
"""
from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any, Callable, Optional

SCOPE = "imret"
_REGISTRY_MODULE = "mmengine.registry"
_REGISTERING_MODULES = ("imret.datasets.registration", "imret.engine", "imret.evaluation",
                        "imret.models", "imret.structures", "imret.visualization")


def register_all_modules(init_default_scope: bool = True) -> bool:
    """Import every imret module that registers config types; with ``init_default_scope``, make
    ``imret`` the default scope unless another one is set.

    Returns True when ``imret`` is the current default scope afterwards. To switch from another scope
    explicitly, use ``mmengine.registry.init_default_scope('imret')``.
    """
    for name in _REGISTERING_MODULES:
        importlib.import_module(name)
    if init_default_scope:
        use_imret_scope_if_unset()
    from mmengine.registry import DefaultScope

    current = DefaultScope.get_current_instance()
    return current is not None and current.scope_name == SCOPE


def use_imret_scope_if_unset() -> bool:
    """Make ``imret`` the default scope when no default scope is set; True if this call set it."""
    from mmengine.registry import DefaultScope

    if DefaultScope.get_current_instance() is not None:
        return False
    DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    return True


class _ThenCall:
    """Runs the real loader, then a callback; the module keeps the real loader as its own."""

    def __init__(self, loader: Any, callback: Callable[[], Any]) -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        try:
            self._callback()
        except Exception as error:  # never break the user's import of mmengine
            warnings.warn(f"imret could not set its default registry scope: {error}", stacklevel=2)


class _AfterImport:
    """Finds ``name`` with the other finders and arranges for ``callback`` to run once it is loaded."""

    def __init__(self, name: str, callback: Callable[[], Any]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Optional[Any]:
        if fullname != self.name:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # one shot
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenCall(spec.loader, self.callback)
                return spec
        return None


def use_imret_scope_when_mmengine_loads() -> None:
    """Set the ``imret`` default scope (if none is set) now, or right after mmengine's registry loads."""
    if _REGISTRY_MODULE in sys.modules:
        try:
            use_imret_scope_if_unset()
        except Exception as error:  # a broken mmengine must not break ``import imret``
            warnings.warn(f"imret could not set its default registry scope: {error}", stacklevel=2)
        return
    if not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(_REGISTRY_MODULE, use_imret_scope_if_unset))
