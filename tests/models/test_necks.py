"""GlobalAveragePooling and GeneralizedMeanPooling against hand-computed pooling."""
import math

import pytest
import torch

from imret.models.necks import GeneralizedMeanPooling, GlobalAveragePooling
from imret.registry import MODELS


def test_gap_is_channel_mean_and_keeps_tuple_kind():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float).reshape(2, 3, 4, 5)
    gap = MODELS.build(dict(type="GlobalAveragePooling"))
    assert torch.allclose(gap(x), x.mean(dim=(2, 3)))
    out = gap((x, 2 * x))
    assert isinstance(out, tuple) and len(out) == 2
    assert torch.allclose(out[1], 2 * x.mean(dim=(2, 3)))


@pytest.mark.parametrize("dim", [1, 3])
def test_gap_other_dims(dim):
    x = torch.rand((2, 3) + (4,) * dim)
    assert torch.allclose(GlobalAveragePooling(dim=dim)(x), x.flatten(2).mean(-1))


def test_gap_rejects_wrong_rank_and_dim():
    with pytest.raises(ValueError, match="dim must be 1, 2 or 3"):
        GlobalAveragePooling(dim=4)
    with pytest.raises(ValueError, match="4-D"):
        GlobalAveragePooling()(torch.rand(2, 3))


def test_gem_hand_computed_value_p3():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 2, 2)
    assert GeneralizedMeanPooling(p=3.0)(x).item() == pytest.approx(25.0 ** (1 / 3), rel=1e-5)


def test_gem_p1_equals_average_pooling():
    x = torch.rand(2, 8, 5, 7) + 0.01
    gem = MODELS.build(dict(type="GeneralizedMeanPooling", p=1.0))
    assert torch.allclose(gem(x), GlobalAveragePooling()(x), atol=1e-6)


def test_gem_large_p_approaches_max():
    x = torch.rand(2, 8, 4, 4) * 0.9 + 0.1
    pooled = GeneralizedMeanPooling(p=200.0)(x)
    peak = x.amax(dim=(2, 3))
    # mean((x/max)^p) lies in [1/16, 1], so the GeM lies in [max * 16^(-1/p), max]
    assert torch.all(pooled <= peak + 1e-5)
    assert torch.all(pooled >= peak * 16 ** (-1 / 200) - 1e-5)
    assert not torch.allclose(GeneralizedMeanPooling(p=3.0)(x), peak, atol=1e-2)


def test_gem_clamps_negative_inputs_to_eps():
    x = -torch.rand(1, 2, 3, 3)
    assert torch.allclose(GeneralizedMeanPooling(eps=1e-3)(x), torch.full((1, 2), 1e-3))
    assert torch.isnan(GeneralizedMeanPooling(p=2.5, clamp=False)(x)).all()


def test_gem_tuple_and_trainable_p():
    x = torch.rand(2, 4, 3, 3) + 0.1
    fixed = GeneralizedMeanPooling()
    assert not fixed.p.requires_grad
    learn = GeneralizedMeanPooling(p=2.0, p_trainable=True)
    (out,) = learn((x,))
    out.sum().backward()
    assert learn.p.grad is not None and learn.p.grad.abs().item() > 0
    assert math.isclose(learn.p.item(), 2.0)
