"""Comparing provenance records: what made a set of vectors, and whether two sets are comparable."""
from __future__ import annotations

from typing import Any, Mapping

# Recorded for the reader, not compared: an imret upgrade alone does not make vectors incomparable
# (changes to how imret turns pixels into vectors bump ENCODING_VERSION, which is compared), and the
# weights count by their hash, wherever their file is (``weights_file`` says where it was).
RECORD_ONLY_KEYS = ("imret_version", "weights_file")
ENCODING_VERSION = 1


def provenance_differences(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ between two provenance records (missing counts as different)."""
    keys = (set(stored) | set(current)) - set(RECORD_ONLY_KEYS)
    return sorted(key for key in keys if stored.get(key) != current.get(key))
