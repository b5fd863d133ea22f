"""Errors raised by the gallery index."""
from __future__ import annotations


class IndexFormatError(ValueError):
    """A directory is not a readable imret gallery index (foreign, corrupt or from a newer imret)."""


class UnknownIdError(KeyError):
    """An id that is not in the index."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown id"


class ProvenanceMismatchError(ValueError):
    """The index was built with a different encoder / preprocessing than the one in use."""


class EncoderUnavailableError(RuntimeError):
    """The encoder could not be made ready (e.g. its model failed to load): the whole sync stops, no file
    is counted as failed."""
