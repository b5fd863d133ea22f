"""An index built from a trained checkpoint, searched without it: the refusal says to name the checkpoint."""
import pytest

from tiny_model import TINY


def test_other_weights_are_refused_with_a_checkpoint_hint():
    from imret.apis.searcher import SearchInputError, check_provenance
    from imret.apis.zoo import get_model

    model = get_model(TINY, pretrained=False, runtime="torch", device="cpu")
    indexed = dict(model.provenance, weights_sha256="0" * 64)  # as if built with --checkpoint
    with pytest.raises(SearchInputError) as refused:
        check_provenance("idx", indexed, model)
    message = str(refused.value)
    assert "weights_sha256" in message and "--checkpoint" in message and "--rebuild" in message
    check_provenance("idx", dict(model.provenance), model)  # the same weights: accepted

    other = dict(model.provenance, model="another-name")  # another model, same weights: no weights hint
    with pytest.raises(SearchInputError) as refused:
        check_provenance("idx", other, model)
    assert "--checkpoint" not in str(refused.value)
