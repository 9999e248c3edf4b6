"""Torch losses: CCC loss against the numpy metric, masking, float32 safety, KD terms."""

import re

import numpy as np
import pytest
import torch

from emokd.errors import EmokdError
from emokd.nn.losses import batch_ccc, ccc_loss, feature_distance, kd_objective
from emokd.core.metrics import ccc


def test_batch_ccc_equals_numpy_metric_per_sequence():
    g = torch.Generator().manual_seed(0)
    y = torch.randn(4, 96, generator=g)
    p = 0.5 * y + 0.3 * torch.randn(4, 96, generator=g) + 0.1
    got = batch_ccc(p, y)
    for i in range(4):
        assert got[i].item() == pytest.approx(ccc(y[i].numpy(), p[i].numpy()), abs=1e-5)
    assert ccc_loss(p.unsqueeze(-1), y).item() == pytest.approx(1 - got.mean().item(), abs=1e-6)


def test_mask_ignores_padding():
    g = torch.Generator().manual_seed(1)
    y = torch.randn(2, 96, generator=g)
    p = y + 0.5 * torch.randn(2, 96, generator=g)
    mask = torch.ones(2, 96)
    mask[1, 60:] = 0
    y2, p2 = y.clone(), p.clone()
    y2[1, 60:] = 0.0  # zero padding, as the windowing does
    p2[1, 60:] = 123.0  # whatever the model says there must not count
    got = batch_ccc(p2, y2, mask)
    assert got[1].item() == pytest.approx(ccc(y[1, :60].numpy(), p[1, :60].numpy()), abs=1e-5)


def test_float32_safe_with_offset_and_constants():
    # values around 1000 with a small spread: naive E[x^2] - E[x]^2 fails in float32
    g = torch.Generator().manual_seed(2)
    y = 1000 + 0.01 * torch.randn(1, 200, generator=g)
    p = y + 0.001 * torch.randn(1, 200, generator=g)
    expected = ccc(y.double().numpy(), p.double().numpy())
    assert batch_ccc(p, y).item() == pytest.approx(expected, abs=1e-3)
    # a constant prediction gives a finite loss of 1 and finite gradients
    c = torch.zeros(1, 200, requires_grad=True)
    loss = ccc_loss(c, torch.randn(1, 200, generator=g))
    loss.backward()
    assert loss.item() == pytest.approx(1.0)
    assert torch.isfinite(c.grad).all()


def test_feature_distances():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(2, 10, 8, generator=g), torch.randn(2, 10, 8, generator=g)
    assert feature_distance(a, b, kind="l1").item() == pytest.approx(torch.nn.L1Loss()(b, a).item(), rel=1e-6)
    assert feature_distance(a, b, kind="mse").item() == pytest.approx(torch.nn.MSELoss()(b, a).item(), rel=1e-6)
    assert feature_distance(a, a, kind="cosine").item() == pytest.approx(0.0, abs=1e-6)
    assert feature_distance(a, -a, kind="cosine").item() == pytest.approx(2.0, abs=1e-6)
    mask = torch.zeros(2, 10)
    mask[:, :4] = 1
    assert feature_distance(a, b, mask, kind="l1").item() == pytest.approx(
        (a[:, :4] - b[:, :4]).abs().mean().item(), rel=1e-6)
    with pytest.raises(EmokdError, match="differ|!="):
        feature_distance(a, b[..., :4])
    with pytest.raises(EmokdError, match="huber"):
        feature_distance(a, b, kind="huber")


def test_kd_objective_is_the_weighted_sum_of_named_terms():
    g = torch.Generator().manual_seed(4)
    y = torch.randn(2, 20, generator=g)
    p = torch.randn(2, 20, 1, generator=g, requires_grad=True)
    fs, ft = torch.randn(2, 20, 8, generator=g, requires_grad=True), torch.randn(2, 20, 8, generator=g)
    total, terms = kd_objective(p, y, fs, ft, kd_weight=0.7)
    assert set(terms) == {"ccc_loss", "kd_loss", "total"}
    assert terms["total"] == pytest.approx(terms["ccc_loss"] + 0.7 * terms["kd_loss"], rel=1e-6)
    assert terms["kd_loss"] == pytest.approx(feature_distance(ft, fs).item(), rel=1e-6)
    total.backward()
    assert fs.grad is not None and fs.grad.abs().sum() > 0
    total0, terms0 = kd_objective(p, y, fs, None)
    assert terms0["kd_loss"] == 0.0 and terms0["total"] == pytest.approx(terms0["ccc_loss"])
    assert np.isclose(total0.item(), ccc_loss(p, y).item())


@pytest.mark.parametrize("w", [float("nan"), -0.5, float("inf"), 1e308])
def test_kd_objective_refuses_a_weight_that_is_not_a_finite_number_in_range(w):
    """NaN and negative weights were accepted (a NaN loss; a student pushed away from its teacher)."""
    y, p = torch.randn(2, 20), torch.randn(2, 20, 1)
    fs, ft = torch.randn(2, 20, 8), torch.randn(2, 20, 8)
    with pytest.raises(EmokdError, match=re.escape(f"kd_weight={w!r}: need a number 0 <= weight <= 1e+06")):
        kd_objective(p, y, fs, ft, kd_weight=w)
