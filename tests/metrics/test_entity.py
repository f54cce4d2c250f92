"""The challenge's entity-value F1 (`hf_pricer.metrics.entity`): the five cases of its definition, and the
Trainer metrics that score generated ids."""

import math

import pytest
import torch
from transformers import EvalPrediction

from hf_pricer.metrics import EntityValueMetrics, entity_f1
from tests.models.resformer.test_processing_resformer import tiny_processor


@pytest.mark.parametrize(
    "prediction, truth, counts",
    [
        ("2.0 gram", "2.0 gram", {"tp": 1, "fp": 0, "fn": 0, "tn": 0}),  # TP
        ("3.0 gram", "2.0 gram", {"tp": 0, "fp": 1, "fn": 0, "tn": 0}),  # FP: wrong value
        ("2.0 gram", "", {"tp": 0, "fp": 1, "fn": 0, "tn": 0}),  # FP: a value where there is none
        ("", "2.0 gram", {"tp": 0, "fp": 0, "fn": 1, "tn": 0}),  # FN
        ("", "", {"tp": 0, "fp": 0, "fn": 0, "tn": 1}),  # TN
    ],
)
def test_f1_cases(prediction, truth, counts):
    scores = entity_f1([prediction], [truth])
    assert {k: scores[k] for k in counts} == counts


def test_f1_values():
    predictions = ["2.0 gram", "3.0 gram", "2.0 gram", "", "", "5.0 volt", None]
    truths = ["2.0 gram", "2.0 gram", "", "2.0 gram", "", "5.0 volt", math.nan]
    scores = entity_f1(predictions, truths)
    assert (scores["tp"], scores["fp"], scores["fn"], scores["tn"]) == (2, 2, 1, 2)
    assert scores["precision"] == pytest.approx(2 / 4)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert scores["exact_match"] == pytest.approx(4 / 7)
    assert entity_f1(["", ""], ["", ""])["f1"] == 0.0
    with pytest.raises(ValueError, match="2 predictions for 1 ground truths"):
        entity_f1(["", ""], [""])


def test_f1_compares_strings_unless_canonicalized():
    predictions, truths = ["2 gram", "500 gms", "garbage"], ["2.0 gram", "500.0 gram", "garbage"]
    raw = entity_f1(predictions, truths)
    assert (raw["tp"], raw["fp"]) == (1, 2)
    canonical = entity_f1(predictions, truths, canonicalize=True)
    assert (canonical["tp"], canonical["fp"], canonical["f1"]) == (3, 0, 1.0)


def test_metrics_score_generated_ids():
    proc = tiny_processor()
    tokenizer = proc.tokenizer
    truths = ["2.5 gram", "", "12.0 volt", "3.0 inch"]
    outputs = ["2.5 gram", "1.0 gram", "", "3.0 inch"]
    encode = lambda texts: proc.encode_targets(texts, ["item_weight", "item_weight", "voltage", "width"])  # noqa: E731
    predictions = torch.cat([torch.full((4, 1), tokenizer.bos_token_id), encode(outputs).clamp(min=0)], dim=1)
    metrics = EntityValueMetrics(proc, ["item_weight", "item_weight", "voltage", "width"])(
        EvalPrediction(predictions=predictions.numpy(), label_ids=encode(truths).numpy())
    )
    # TP 2 (rows 0, 3), FP 1 (row 1: prediction for an empty truth), FN 1 (row 2)
    assert metrics["precision"] == pytest.approx(2 / 3) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(2 / 3) and metrics["exact_match"] == pytest.approx(0.5)
    assert metrics["sanity_pass_rate"] == 1.0
