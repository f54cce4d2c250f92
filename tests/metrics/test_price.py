import evaluate
import numpy as np
import pytest
from transformers import EvalPrediction

from hf_pricer.metrics import EVALUATE_METRIC_PATH, compute_metrics, price_metrics, smape


def test_smape_hand_computed():
    # |110-100| / ((100+110)/2) = 0.095238..., |50-100| / 75 = 0.6667 → mean 0.38095 → 38.095 %
    assert smape([110.0, 50.0], [100.0, 100.0]) == pytest.approx(100 * (10 / 105 + 50 / 75) / 2)


def test_smape_range_and_symmetry():
    assert smape([5.0], [5.0]) == 0.0
    assert smape([0.0], [7.0]) == pytest.approx(200.0)
    assert smape([3.0, 9.0], [9.0, 3.0]) == pytest.approx(smape([9.0, 3.0], [3.0, 9.0]))


def test_price_metrics_values():
    metrics = price_metrics([10.0, 100.0, 400.0], [12.0, 150.0, 300.0])
    assert metrics["mae"] == pytest.approx((2 + 50 + 100) / 3)
    # hits: error 2 < 40 yes; 50 >= 40 and 50 >= 0.2*150=30 no; 100 >= 40 and 100 >= 60 no
    assert metrics["hit_rate"] == pytest.approx(100 / 3)
    expected_rmsle = np.sqrt(np.mean((np.log1p([10, 100, 400]) - np.log1p([12, 150, 300])) ** 2))
    assert metrics["rmsle"] == pytest.approx(expected_rmsle)
    true = np.array([12.0, 150.0, 300.0])
    r2 = 1 - np.sum((true - [10, 100, 400]) ** 2) / np.sum((true - true.mean()) ** 2)
    assert metrics["r2"] == pytest.approx(r2)


def test_relative_hit_above_forty_dollars():
    # error 100 on a $1000 item: 10 % < 20 % → hit
    assert price_metrics([1100.0], [1000.0])["hit_rate"] == 100.0


@pytest.mark.parametrize(
    "predictions, references, message",
    [([1.0, np.nan], [1.0, 2.0], "predictions"), ([1.0], [1.0, 2.0], "references"), ([], [], "zero")],
)
def test_price_metrics_bad_input(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        price_metrics(predictions, references)


def test_compute_metrics_takes_predictions_from_output_tuple():
    predictions = np.array([10.0, 20.0])
    log_price = np.log1p(predictions) + 5  # would give other numbers if it were picked
    metrics = compute_metrics(EvalPrediction(predictions=(predictions, log_price), label_ids=np.array([10.0, 30.0])))
    assert metrics["mae"] == pytest.approx(5.0)


def test_evaluate_module_matches_library():
    metric = evaluate.load(EVALUATE_METRIC_PATH)
    predictions, references = [10.0, 55.5, 300.0], [12.0, 50.0, 280.0]
    result = metric.compute(predictions=predictions, references=references)
    assert result == pytest.approx(price_metrics(predictions, references))
