import numpy as np
import pytest
from transformers import EvalPrediction

from hf_pricer.metrics import regression_metrics


def test_regression_metrics_per_target_and_mean():
    compute = regression_metrics(["length", "diameter"])
    predictions = np.array([[10.0, 4.0], [12.0, 3.0]])
    labels = np.array([[11.0, 4.0], [12.0, 4.0]])
    metrics = compute(EvalPrediction(predictions=(predictions, np.ones((2, 3)) / 3), label_ids=labels))
    assert metrics == pytest.approx({"mae_length": 0.5, "mae_diameter": 0.5, "mean_mae": 0.5})
    with pytest.raises(ValueError, match=r"\(num_items, 2\)"):
        compute(EvalPrediction(predictions=predictions[:, :1], label_ids=labels[:, :1]))
