"""Pieces the processors and data collators share."""

from __future__ import annotations

import copy


class AugmentingCollator:
    """Base of the data collators that augment images in training.

    `PricerTrainer` calls `for_eval()` for its evaluation and prediction dataloaders, so evaluation
    always sees deterministic inputs while training keeps its augmentation.
    """

    def __init__(self, processor, train: bool = True):
        self.processor = processor
        self.train = train

    def for_eval(self):
        """A copy that does not augment, for evaluation and prediction; it shares the processor."""
        collator = copy.copy(self)
        collator.train = False
        return collator
