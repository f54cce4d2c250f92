"""Price-regression metrics.

SMAPE is exactly the dual-encoder design's, ``|ŷ - y| / ((|y| + |ŷ|) / 2 + ε)`` with ε = 1e-8, reported
in percent (0–200, the Amazon ML Challenge 2025 convention). The other metrics are the ones the
"Price is Right" evaluations report: MAE in dollars, RMSLE, R² and the hit rate, the share of
predictions off by less than $40 or by less than 20 % of the true price.

Everything here works on NumPy arrays of prices in dollars; the differentiable training losses live
in :mod:`hf_pricer.modeling_utils`. ``evaluate.load(EVALUATE_METRIC_PATH)`` gives the same numbers through
the ``evaluate`` library, without the Hub.
"""

from __future__ import annotations

import os

import numpy as np

from .utils import first_output

SMAPE_EPS = 1e-8
HIT_ABSOLUTE = 40.0
HIT_RELATIVE = 0.2

EVALUATE_METRIC_PATH = os.path.join(os.path.dirname(__file__), "evaluate_modules", "price_metrics")


def _as_prices(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        bad = array[~np.isfinite(array)][:5]
        raise ValueError(f"`{name}` must be finite prices, got {bad.tolist()}")
    return array


def smape(predictions, references) -> float:
    """Symmetric mean absolute percentage error in percent (0–200)."""
    pred, true = _as_prices(predictions, "predictions"), _as_prices(references, "references")
    ratio = np.abs(pred - true) / ((np.abs(true) + np.abs(pred)) / 2 + SMAPE_EPS)
    return float(100.0 * ratio.mean())


def price_metrics(predictions, references) -> dict[str, float]:
    """SMAPE (%), MAE ($), RMSLE, R² and hit rate (%) of price predictions against true prices."""
    pred, true = _as_prices(predictions, "predictions"), _as_prices(references, "references")
    if pred.shape != true.shape:
        raise ValueError(f"`predictions` has {pred.size} values but `references` has {true.size}")
    if pred.size == 0:
        raise ValueError("cannot compute price metrics of zero predictions")
    error = np.abs(pred - true)
    log_error = np.log1p(np.clip(pred, 0, None)) - np.log1p(np.clip(true, 0, None))
    total = np.sum((true - true.mean()) ** 2)
    r2 = 1.0 - np.sum((true - pred) ** 2) / total if total > 0 else float("nan")
    hits = (error < HIT_ABSOLUTE) | (error < HIT_RELATIVE * np.abs(true))
    return {
        "smape": smape(pred, true),
        "mae": float(error.mean()),
        "rmsle": float(np.sqrt(np.mean(log_error**2))),
        "r2": float(r2),
        "hit_rate": float(100.0 * hits.mean()),
    }


def interval_metrics(low, high, references) -> dict[str, float]:
    """How well price intervals `[low, high]` hold the true prices: `interval_coverage`, the share of prices
    inside (%), `interval_width`, the mean width ($), and `interval_ratio`, the median of `high / low`."""
    low, high = _as_prices(low, "low"), _as_prices(high, "high")
    true = _as_prices(references, "references")
    if not low.shape == high.shape == true.shape:
        raise ValueError(f"got {low.size} lower ends, {high.size} upper ends and {true.size} prices")
    if np.any(low > high):
        raise ValueError("every interval needs low <= high")
    return {
        "interval_coverage": float(100.0 * np.mean((true >= low) & (true <= high))),
        "interval_width": float(np.mean(high - low)),
        "interval_ratio": float(np.median(high / np.maximum(low, SMAPE_EPS))),
    }


def compute_metrics(eval_pred) -> dict[str, float]:
    """``Trainer(compute_metrics=...)`` hook for the price models, whose first output is ``predictions``
    (dollars)."""
    return price_metrics(first_output(eval_pred.predictions), eval_pred.label_ids)


__all__ = [
    "EVALUATE_METRIC_PATH",
    "HIT_ABSOLUTE",
    "HIT_RELATIVE",
    "compute_metrics",
    "interval_metrics",
    "price_metrics",
    "smape",
]
