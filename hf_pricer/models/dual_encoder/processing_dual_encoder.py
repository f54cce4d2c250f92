"""Processors of the dual-encoder price regressor: product image + product text → model inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer
from transformers.feature_extraction_utils import BatchFeature

from hf_pricer.data.schema import item_text
from hf_pricer.feature_extraction_utils import TabularFeatures, TabularProcessorMixin
from hf_pricer.image_processing_utils import as_batch
from hf_pricer.processing_utils import AugmentingCollator, ProductProcessor, add_labels

from .image_processing_dual_encoder import DualEncoderImageProcessor


class DualEncoderProcessor(TabularProcessorMixin, ProductProcessor):
    r"""
    Wraps a [`DualEncoderImageProcessor`] and a tokenizer (BERT's in the design) into one processor, which
    `save_pretrained` writes as `processor_config.json` plus the tokenizer files.

    Args:
        image_processor ([`DualEncoderImageProcessor`]): the image processor.
        tokenizer ([`PreTrainedTokenizerBase`]): the tokenizer of the text encoder.
        max_length (`int`, *optional*, defaults to 256): texts are truncated to this many tokens; batches are
            padded to their longest text.
        text_fields (`list[str]`, *optional*, defaults to `["title", "text"]`):
            Item fields joined (one per line) into the text that is tokenized, see [`item_text`].
        tabular_features ([`TabularFeatures`] or `dict`, *optional*):
            Numeric and categorical features of the items (quantities, units, brand ...), fitted on the
            training items, for a model whose config names them; saved with the processor.
    """

    loading_classes = (DualEncoderImageProcessor, AutoTokenizer)

    def __init__(
        self,
        image_processor: DualEncoderImageProcessor | None = None,
        tokenizer=None,
        max_length: int = 256,
        text_fields: list[str] | tuple[str, ...] = ("title", "text"),
        tabular_features: TabularFeatures | dict | None = None,
        **kwargs,
    ):
        super().__init__(image_processor, tokenizer, **kwargs)
        self.max_length = max_length
        self.text_fields = list(text_fields)
        self._set_tabular_features(tabular_features)

    @property
    def model_input_names(self) -> list[str]:
        return (
            self.image_processor.model_input_names
            + self.tokenizer.model_input_names
            + ["has_text"]
            + self.tabular_input_names
        )

    def to_dict(self):
        return self._serialize_tabular(super().to_dict())

    def item_text(self, item: dict) -> str:
        """The text of an item that gets tokenized: its `text_fields`, non-empty ones joined by newlines."""
        return item_text(item, self.text_fields)

    def process_items(self, items: list[dict], train: bool = False) -> BatchFeature:
        """Model inputs of items (dicts with the item schema's `image`, text fields and, for the tabular
        features, `category` and `details`); what the data collator and the `price-regression` pipeline call.
        `train` augments the images."""
        batch = self(
            images=[item.get("image") for item in items],
            text=[self.item_text(item) for item in items],
            train=train,
            ids=[item.get("id") for item in items],
        )
        batch.update(BatchFeature(self.tabular_inputs(items), tensor_type="pt"))
        return batch

    def __call__(
        self,
        images: Any = None,
        text: str | list[str | None] | None = None,
        return_tensors: str | None = "pt",
        **image_kwargs,
    ) -> BatchFeature:
        r"""
        Process a batch of images, of texts, or of both (same length). A single image or string is a batch
        of one; `images=None` means no image input, while `None` inside a list is a missing image.

        Returns a [`BatchFeature`] with, for images, `pixel_values` and `has_image` (see
        [`DualEncoderImageProcessor.preprocess`]; `image_kwargs`, i.e. `train`, `seed` and `ids`, go there)
        and, for texts, `input_ids`, `attention_mask` (and `token_type_ids` when the tokenizer makes them) of
        shape `(batch_size, longest_text)` and `has_text` `(batch_size,)` bool: `False` for `None`, empty or
        whitespace-only text, which is tokenized as `""`.
        """
        if images is None and text is None:
            raise ValueError("Pass `images`, `text` or both.")
        data = {}
        if text is not None:
            texts = as_batch(text)
            for position, value in enumerate(texts):
                if value is not None and not isinstance(value, str):
                    raise TypeError(
                        f"`text[{position}]` must be a string or None, got {type(value).__name__}"
                    )
            has_text = [bool(value and value.strip()) for value in texts]
            data.update(
                self.tokenizer(
                    [value if present else "" for value, present in zip(texts, has_text, strict=True)],
                    padding="longest",
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors=return_tensors,
                )
            )
            data["has_text"] = np.array(has_text, dtype=bool)
        if images is not None:
            images = as_batch(images)
            if text is not None and len(images) != len(data["has_text"]):
                raise ValueError(f"Got {len(images)} images but {len(data['has_text'])} texts.")
            data.update(self.image_processor(images, return_tensors=return_tensors, **image_kwargs))
        return BatchFeature(data, tensor_type=return_tensors)


class DualEncoderCollator(AugmentingCollator):
    """Data collator: examples (items: dicts with the item schema's `image`, text fields and `price`) → model
    batch.

    Images are loaded, augmented (when `train`) and tokenized here, per batch, so datasets keep their raw
    columns: paths, URLs, `datasets.Image()` (decoded PIL images) or `datasets.Image(decode=False)` dicts.
    Use it with `remove_unused_columns=False` (the [`PricerTrainingArguments`] default). Adds `labels`
    (prices in dollars) when the examples have prices; a missing, non-finite or non-positive price among them
    is a `ValueError` naming the example ([`hf_pricer.processing_utils.collate_labels`]).
    """

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor.process_items(examples, train=self.train))
        return add_labels(batch, examples, "price", positive=True)


__all__ = ["DualEncoderCollator", "DualEncoderProcessor"]
