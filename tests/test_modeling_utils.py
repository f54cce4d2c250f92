"""The price losses of `hf_pricer.modeling_utils`, which every price head computes in log-price space."""

import pytest
import torch

from hf_pricer.metrics import smape
from hf_pricer.modeling_utils import price_loss


def test_smape_loss_equals_metric():
    prices = torch.tensor([5.0, 80.0, 1200.0])
    predicted = torch.tensor([7.5, 60.0, 1000.0])
    loss = price_loss(torch.log1p(predicted), prices, "smape")
    assert loss.item() * 100 == pytest.approx(smape(predicted.numpy(), prices.numpy()), rel=1e-5)


def test_standardized_losses():
    prices = torch.tensor([9.0, 99.0])
    log_price = torch.log1p(prices) + torch.tensor([0.5, -2.0])
    assert price_loss(log_price, prices, "l1", 3.0, 2.0).item() == pytest.approx((0.25 + 1.0) / 2)
    assert price_loss(log_price, prices, "mse", 3.0, 2.0).item() == pytest.approx((0.0625 + 1.0) / 2)
    # Huber with delta 1: 0.5 * 0.25**2 and 1.0 - 0.5
    assert price_loss(log_price, prices, "huber", 3.0, 2.0).item() == pytest.approx((0.5 * 0.0625 + 0.5) / 2)
    assert price_loss(log_price, prices, "l1", 3.0, 2.0, reduction="sum").item() == pytest.approx(1.25)


def test_smape_loss_has_gradient_and_survives_huge_log_price():
    log_price = torch.tensor([2.0, 500.0], requires_grad=True)
    loss = price_loss(log_price, torch.tensor([10.0, 10.0]), "smape")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(log_price.grad).all()
    assert log_price.grad[0] != 0


def test_price_loss_rejects_unknown_type_and_shape_mismatch():
    with pytest.raises(ValueError, match="loss_type"):
        price_loss(torch.zeros(2), torch.ones(2), "cross_entropy")
    with pytest.raises(ValueError, match="labels"):
        price_loss(torch.zeros(2), torch.ones(3), "l1")
