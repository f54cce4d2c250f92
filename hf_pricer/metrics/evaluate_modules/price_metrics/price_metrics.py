"""`evaluate` metric module for price predictions: ``evaluate.load(hf_pricer.metrics.EVALUATE_METRIC_PATH)``."""

import datasets
import evaluate

from hf_pricer.metrics.price import price_metrics

_DESCRIPTION = """
Price-regression metrics: SMAPE in percent (0-200, the Amazon ML Challenge 2025 convention),
MAE in dollars, RMSLE, R² and the hit rate (share of predictions within $40 or 20 % of the price).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[float]`): predicted prices in dollars.
    references (`list[float]`): true prices in dollars.
Returns:
    `dict` with `smape`, `mae`, `rmsle`, `r2` and `hit_rate`.
Examples:
    >>> metric = evaluate.load(hf_pricer.metrics.EVALUATE_METRIC_PATH)
    >>> metric.compute(predictions=[10.0, 20.0], references=[10.0, 30.0])["mae"]
    5.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PriceMetrics(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references):
        return price_metrics(predictions, references)
