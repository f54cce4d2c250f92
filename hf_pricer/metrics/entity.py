"""Entity-value metrics: the Amazon ML Challenge 2024 score (F1) and a `compute_metrics` hook for models that
generate entity values.

:func:`entity_f1` counts, per row, TP (`OUT != ""`, `GT != ""`, `OUT == GT`), FP (`OUT != ""` and either
`GT == ""` or `OUT != GT`), FN (`OUT == ""`, `GT != ""`) and TN (both empty); F1 = 2PR / (P + R).
Strings are compared as they are, like the challenge; `canonicalize=True` compares canonical forms instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hf_pricer.data.entities import EntityValueError, check_prediction, is_empty_value, normalize_entity_value


def entity_f1(
    predictions: Iterable[Any],
    ground_truths: Iterable[Any],
    *,
    canonicalize: bool = False,
) -> dict[str, float]:
    """The challenge's score of `predictions` against `ground_truths` (one string per row; None/NaN mean "").

    Returns `f1`, `precision`, `recall`, `exact_match` (share of rows with OUT == GT, empty ones included)
    and the counts `tp`, `fp`, `fn`, `tn`. With `canonicalize=True`, both sides are first rewritten in the
    canonical form (`"2 gram"` == `"2.0 gram"`); strings that do not parse are compared as they are.
    """
    predictions, ground_truths = list(predictions), list(ground_truths)
    if len(predictions) != len(ground_truths):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truths)} ground truths")

    def prepare(value: Any) -> str:
        if is_empty_value(value):
            return ""
        value = str(value)
        if canonicalize:
            try:
                return normalize_entity_value(value)
            except EntityValueError:
                return value.strip()
        return value

    tp = fp = fn = tn = 0
    for prediction, truth in zip(map(prepare, predictions), map(prepare, ground_truths)):
        if prediction and truth:
            tp += prediction == truth
            fp += prediction != truth
        elif prediction:
            fp += 1
        elif truth:
            fn += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + fn + tn
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "exact_match": (tp + tn) / total if total else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


class EntityValueMetrics:
    """`compute_metrics` for generated entity values: the challenge's F1 (precision, recall, exact match)
    and the share of predictions that pass `check_prediction` for their entity.

    Args:
        processor: turns generated (and label) token ids into strings with `decode_predictions`, e.g. a
            [`ResformerProcessor`].
        entity_names (`Sequence[str]`): the entity of every evaluated row, in dataset order.
    """

    def __init__(self, processor, entity_names: Sequence[str]):
        self.processor = processor
        self.entity_names = list(entity_names)

    def __call__(self, eval_prediction) -> dict[str, float]:
        predictions = self.processor.decode_predictions(eval_prediction.predictions)
        truths = self.processor.decode_predictions(eval_prediction.label_ids)
        if len(predictions) != len(self.entity_names):
            raise ValueError(f"{len(predictions)} predictions for {len(self.entity_names)} entity names")
        scores = entity_f1(predictions, truths)
        passed = [check_prediction(p, name) is None for p, name in zip(predictions, self.entity_names, strict=True)]
        metrics = {key: scores[key] for key in ("f1", "precision", "recall", "exact_match")}
        metrics["sanity_pass_rate"] = float(np.mean(passed)) if passed else 0.0
        return metrics


__all__ = ["EntityValueMetrics", "entity_f1"]
