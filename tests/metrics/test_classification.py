import numpy as np
import pytest
from transformers import EvalPrediction

from hf_pricer.metrics import classification_metrics


def test_accuracy_of_the_arg_max():
    logits = np.array([[0.1, 2.0], [3.0, 0.0], [0.0, 1.0]])
    assert classification_metrics(EvalPrediction(predictions=logits, label_ids=np.array([1, 0, 0]))) == {
        "accuracy": pytest.approx(2 / 3)
    }
