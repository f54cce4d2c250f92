"""Multi-target regression metrics: the mean absolute error of every named target and their mean."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .utils import first_output


def regression_metrics(target_names: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """A `compute_metrics` hook giving `mae_<target>` per target and their mean, `mean_mae` (the
    dual-embedding regressor's objective)."""
    names = list(target_names)

    def compute(eval_pred) -> dict[str, float]:
        predictions = np.asarray(first_output(eval_pred.predictions), dtype=np.float64)
        labels = np.asarray(eval_pred.label_ids, dtype=np.float64)
        if predictions.shape != labels.shape or predictions.shape[-1] != len(names):
            raise ValueError(
                f"predictions {predictions.shape} and labels {labels.shape} must both be (num_items, {len(names)})"
            )
        errors = np.abs(predictions - labels).mean(axis=0)
        metrics = {f"mae_{name}": float(error) for name, error in zip(names, errors, strict=True)}
        metrics["mean_mae"] = float(errors.mean())
        return metrics

    return compute


__all__ = ["regression_metrics"]
