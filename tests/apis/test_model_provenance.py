"""model_provenance: the provenance get_model would give, without building the network."""
from __future__ import annotations

import pytest

from imret.apis import get_model
from imret.apis.model_provenance import model_provenance

@pytest.mark.parametrize("name", ["efficientnet-lite0_gem", "efficientnet-lite0_avg"])
def test_zoo_provenance_matches_the_built_model(name):
    assert model_provenance(name) == get_model(name).provenance


def test_config_file_provenance_matches_the_built_model():
    from imret.engine.config_files import resolve_config_path

    config = resolve_config_path("arcface/efficientnet-lite0-arcface_flowers12")
    expected = get_model(str(config), pretrained=False).provenance
    assert model_provenance(str(config), pretrained=False) == expected
    assert expected["model"] == str(config.resolve())


def test_unknown_names_and_missing_files():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        model_provenance("nope")
    with pytest.raises(FileNotFoundError, match="missing.py"):
        model_provenance("missing.py")
