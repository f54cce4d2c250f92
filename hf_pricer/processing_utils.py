"""Pieces the processors and data collators share."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch
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


def _label_value(example: Mapping, name: str, position: int, positive: bool) -> float:
    value = example.get(name)
    problem = None
    if value is None:
        problem = "is missing"
    elif isinstance(value, bool):
        problem = "is not a number"
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            problem = "is not a number"
        else:
            if not math.isfinite(number):
                problem = "is not finite"
            elif positive and number <= 0:
                problem = "is not positive"
    if problem is not None:
        raise ValueError(
            f"example {example.get('id', f'at position {position} of the batch')!r}: `{name}` {problem} "
            f"({value!r}); every example of a labelled batch needs a usable value (check the data loading)"
        )
    return number


def collate_labels(
    examples: Sequence[Mapping], names: str | Sequence[str], *, positive: bool = False
) -> torch.Tensor | None:
    """The `labels` tensor of a batch: the field `names` of each example, `(batch_size,)` float32, or for a
    list of fields `(batch_size, len(names))`. None when no example carries any of them (a batch to predict).

    Every data collator that batches prices or numeric targets goes through here, so that a label is never
    NaN, infinite, missing or (with `positive`, for prices) zero or negative in a batch the model sees: such a
    value raises `ValueError` naming the example's `id`, the field and the value. Labels are never dropped.
    """
    fields = [names] if isinstance(names, str) else list(names)
    if all(example.get(name) is None for example in examples for name in fields):
        return None
    values = [[_label_value(example, name, i, positive) for name in fields] for i, example in enumerate(examples)]
    labels = torch.tensor(values, dtype=torch.float32)
    return labels[:, 0] if isinstance(names, str) else labels


def add_labels(
    batch: dict, examples: Sequence[Mapping], names: str | Sequence[str], *, positive: bool = False
) -> dict:
    """`batch` with `labels` from [`collate_labels`] (same arguments) when the examples carry any: how a data
    collator ends."""
    labels = collate_labels(examples, names, positive=positive)
    if labels is not None:
        batch["labels"] = labels
    return batch
