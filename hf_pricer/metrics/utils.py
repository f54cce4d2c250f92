"""What the `compute_metrics` hooks share."""

from __future__ import annotations


def first_output(predictions):
    """The model's first non-loss output from what the Trainer gathered: a model that returns several
    outputs (predictions, attention weights, ...) hands the Trainer a tuple of them."""
    return predictions[0] if isinstance(predictions, (tuple, list)) else predictions
