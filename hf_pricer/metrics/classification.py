"""Classification metrics: the `compute_metrics` hook of the embedding classifiers."""

from __future__ import annotations

import numpy as np

from .utils import first_output


def classification_metrics(eval_pred) -> dict[str, float]:
    """`Trainer(compute_metrics=...)` hook of a classifier that returns logits: accuracy."""
    logits = first_output(eval_pred.predictions)
    labels = np.asarray(eval_pred.label_ids).reshape(-1)
    return {"accuracy": float((np.asarray(logits).argmax(-1) == labels).mean())}


__all__ = ["classification_metrics"]
