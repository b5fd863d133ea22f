"""Errors of runtime selection and export bundles; each message is one line saying what to do."""
from __future__ import annotations


class RuntimeSelectionError(ValueError):
    """An unknown or unavailable runtime or device, or one that cannot run the given model."""


class BundleError(ValueError):
    """An export bundle that is missing, incomplete or corrupt."""
