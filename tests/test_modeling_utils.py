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


def test_pinball_loss_is_minimised_by_the_quantile():
    from hf_pricer.modeling_utils import pinball_loss

    prices = torch.expm1(torch.linspace(1.0, 5.0, 1001))
    candidates = torch.linspace(1.0, 5.0, 401)
    losses = [pinball_loss(torch.full((1001, 1), float(c)), prices, [0.9]).item() for c in candidates]
    best = candidates[int(torch.tensor(losses).argmin())]
    assert best.item() == pytest.approx(1.0 + 0.9 * 4.0, abs=0.02)


def test_quantile_head_learns_known_quantiles_and_calibration_restores_coverage():
    """y = 2 + x + N(0, 0.5²) in log price: the 10th/90th percentiles are 2 + x ∓ 1.2816 * 0.5."""
    from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression
    from hf_pricer.metrics import interval_metrics

    generator = torch.Generator().manual_seed(0)

    def sample(n):
        x = torch.rand(n, 1, generator=generator) * 2 - 1
        return x, torch.expm1(2 + x[:, 0] + 0.5 * torch.randn(n, generator=generator))

    torch.manual_seed(0)
    config = ResidualRegressorConfig(num_features=1, num_layers=3, hidden_size=32, dropout=0.0,
                                     log_price_mean=2.0, log_price_std=0.7, quantiles=[0.1, 0.5, 0.9],
                                     numeric_feature_names=["x"])
    model = ResidualRegressorForPriceRegression(config)
    x, prices = sample(4000)
    inputs = {"input_features": torch.zeros(len(x), 1), "numeric_features": x}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model(**inputs, labels=prices).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    x_new, new_prices = sample(4000)
    new_inputs = {"input_features": torch.zeros(len(x_new), 1), "numeric_features": x_new}
    with torch.no_grad():
        outputs = model(**new_inputs)
    low, high = outputs.quantile_log_price[:, 0], outputs.quantile_log_price[:, 2]
    expected = 2 + x_new[:, 0]
    half_width = 1.2816 * 0.5
    assert (low - (expected - half_width)).abs().mean() < 0.08
    assert (high - (expected + half_width)).abs().mean() < 0.08
    bounds = outputs.quantile_predictions
    coverage = interval_metrics(bounds[:, 0], bounds[:, 2], new_prices)["interval_coverage"]
    assert 75 <= coverage <= 85

    # A model whose quantiles are too close together: conformal calibration on held-out items widens them.
    with torch.no_grad():
        layer = model.output_layer  # rows: point price, then the 10th, 50th and 90th percentiles
        layer.weight[1:] = 0.5 * layer.weight[1:] + 0.5 * layer.weight[2]
        layer.bias[1:] = 0.5 * layer.bias[1:] + 0.5 * layer.bias[2]
        narrow = model(**new_inputs).quantile_predictions
        assert interval_metrics(narrow[:, 0], narrow[:, 2], new_prices)["interval_coverage"] < 70
        margin = model.calibrate_intervals(model(**new_inputs).quantile_log_price, new_prices)
        x_test, test_prices = sample(4000)
        test_inputs = {"input_features": torch.zeros(len(x_test), 1), "numeric_features": x_test}
        calibrated = model(**test_inputs).quantile_predictions
    assert margin > 0 and model.config.interval_margin == margin
    assert 77 <= interval_metrics(calibrated[:, 0], calibrated[:, 2], test_prices)["interval_coverage"] <= 83
