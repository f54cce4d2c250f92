"""Processors of the Resformer: product image + entity name (+ target value) → model inputs, and back.

The processor pairs a [`ResformerImageProcessor`] with the [`ResformerTokenizer`]: entity names become
`entity_ids`, target values become `labels`, and generated token ids become prediction strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature

from hf_pricer.data.entities import normalize_entity_value
from hf_pricer.image_processing_utils import as_batch
from hf_pricer.processing_utils import AugmentingCollator, ProductProcessor

from .image_processing_resformer import ResformerImageProcessor

from .tokenization_resformer import ResformerTokenizer, shift_tokens_right

IGNORE_INDEX = -100


class ResformerProcessor(ProductProcessor):
    r"""
    Wraps a [`ResformerImageProcessor`] and a [`ResformerTokenizer`]; `save_pretrained` writes
    `processor_config.json`, `preprocessor_config.json` and `tokenizer_config.json`.

    Args:
        image_processor ([`ResformerImageProcessor`]): the image processor.
        tokenizer ([`ResformerTokenizer`]): the output-language tokenizer.
    """

    loading_classes = (ResformerImageProcessor, ResformerTokenizer)

    def __init__(self, image_processor: ResformerImageProcessor | None = None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values", "entity_ids"]

    def encode_targets(self, values: Sequence[Any], entity_names: Sequence[str]) -> torch.Tensor:
        """`labels` `(batch_size, longest)`: each value in canonical form (messy labels such as `"500 gms"`
        are normalised; `""`/None is the empty prediction), tokenized with end-of-sequence, `-100` padding.
        A value that cannot be read for its entity raises an error naming both."""
        texts = [normalize_entity_value(value, name) for value, name in zip(values, entity_names, strict=True)]
        ids = self.tokenizer(texts, padding="longest", return_tensors="pt")
        return ids["input_ids"].masked_fill(ids["attention_mask"] == 0, IGNORE_INDEX)

    def __call__(
        self,
        images: Any = None,
        entity_names: str | Sequence[str] | None = None,
        text: Any = None,
        return_tensors: str | None = "pt",
        **image_kwargs,
    ) -> BatchFeature:
        r"""
        Process a batch of images with the entity to read from each (`entity_names`, same length), and
        optionally the target values (`text`: `"2.5 kilogram"`, messy labels, or `""` for none).

        Returns a [`BatchFeature`] with `pixel_values` `(batch_size, 3, height, width)`, `entity_ids`
        `(batch_size,)` and, when `text` is given, `labels` (see [`encode_targets`]) and the matching
        `decoder_input_ids` (start token + labels shifted right). `image_kwargs` (`train`, `seed`, `ids`) go
        to the image processor's `preprocess`.
        """
        if images is None or entity_names is None:
            raise ValueError("the Resformer processor needs `images` and `entity_names` (one per image)")
        images = as_batch(images)
        entity_names = [entity_names] if isinstance(entity_names, str) else list(entity_names)
        if len(images) != len(entity_names):
            raise ValueError(f"got {len(images)} images but {len(entity_names)} entity names")
        pixels = self.image_processor(images, return_tensors="pt", **image_kwargs)
        data = {
            "pixel_values": pixels["pixel_values"],
            "entity_ids": torch.tensor([self.tokenizer.entity_id(name) for name in entity_names]),
        }
        if text is not None:
            labels = self.encode_targets([text] if isinstance(text, str) else list(text), entity_names)
            data["labels"] = labels
            # PricerTrainer passes the labels to the loss, not to the model: the decoder gets its inputs here.
            data["decoder_input_ids"] = shift_tokens_right(
                labels, self.tokenizer.bos_token_id, self.tokenizer.pad_token_id, IGNORE_INDEX
            )
        return BatchFeature(data, tensor_type=return_tensors)

    def decode_predictions(self, token_ids) -> list[str]:
        """Generated (or label) token ids `(batch_size, length)` → prediction strings; `-100` is padding."""
        token_ids = np.asarray(token_ids)
        token_ids = np.where(token_ids == IGNORE_INDEX, self.tokenizer.pad_token_id, token_ids)
        return self.tokenizer.batch_decode(token_ids.tolist(), skip_special_tokens=True)


class ResformerCollator(AugmentingCollator):
    """Data collator: examples with `image`, `entity_name` and optionally `entity_value` → model batch.

    Images are loaded and augmented (when `train`) per batch, so datasets keep raw columns (paths, URLs,
    decoded or undecoded `datasets.Image`). Adds `labels` when every example has an `entity_value` (`""` is
    the empty prediction).
    """

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        values = [example.get("entity_value") for example in examples]
        return dict(
            self.processor(
                images=[example.get("image") for example in examples],
                entity_names=[example["entity_name"] for example in examples],
                text=values if all(value is not None for value in values) else None,
                train=self.train,
                ids=[example.get("id", example.get("index")) for example in examples],
            )
        )


__all__ = ["ResformerCollator", "ResformerProcessor"]
