"""Pieces the processors and data collators share."""

from __future__ import annotations

import copy

from transformers.processing_utils import ProcessorMixin

from hf_pricer.data.images import ImageReport


class ProductProcessor(ProcessorMixin):
    """Base of the processors that pair a [`ProductImageProcessor`] (subclass) with a tokenizer.

    `loading_classes` load the two, in the order of `__init__`'s arguments. `from_pretrained` uses them rather
    than the Auto classes, so that loading does not depend on the registration done by `import hf_pricer`.
    """

    loading_classes: tuple[type, type]

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        return [
            loader.from_pretrained(pretrained_model_name_or_path, **kwargs) for loader in cls.loading_classes
        ]

    @property
    def image_report(self) -> ImageReport:
        """Counts of the images that could not be used, by reason (see [`ImageReport`])."""
        return self.image_processor.image_report


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
