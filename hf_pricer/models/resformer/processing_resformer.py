"""Processors of the Resformer: product image + entity name (+ target value) → model inputs, and back.

The processor pairs a [`ResformerImageProcessor`] with the [`ResformerTokenizer`]: entity names become
`entity_ids`, target values become `labels`, and generated token ids become prediction strings. With
`use_ocr_tokens` it also turns each image's OCR lines (given, or read by [`RapidOcrEngine`], the `ocr` extra) into
word-token features and the OCR's number candidates (see [`ResformerForConditionalGeneration`]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature

from hf_pricer.data.entities import normalize_entity_value
from hf_pricer.data.ocr import OCR_TOKEN_TYPES, ocr_token_features
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
        use_ocr_tokens (`bool`, *optional*, defaults to `False`): also return OCR token features and number
            candidates (for a model with `use_ocr_tokens`); the sizes below must match the model's config.
        max_ocr_tokens, ocr_hash_buckets, ocr_ids_per_token (`int`, *optional*): as in [`ResformerConfig`].
        max_number_tokens (`int`, *optional*, defaults to 12): longest OCR number kept as a candidate, in tokens.
        ocr_settings (`dict`, *optional*): arguments of the [`RapidOcrEngine`] run on images without OCR lines.
    """

    loading_classes = (ResformerImageProcessor, ResformerTokenizer)

    def __init__(
        self,
        image_processor: ResformerImageProcessor | None = None,
        tokenizer=None,
        use_ocr_tokens: bool = False,
        max_ocr_tokens: int = 64,
        ocr_hash_buckets: int = 4096,
        ocr_ids_per_token: int = 24,
        max_number_tokens: int = 12,
        ocr_settings: dict | None = None,
        **kwargs,
    ):
        self.use_ocr_tokens = use_ocr_tokens
        self.max_ocr_tokens = max_ocr_tokens
        self.ocr_hash_buckets = ocr_hash_buckets
        self.ocr_ids_per_token = ocr_ids_per_token
        self.max_number_tokens = max_number_tokens
        self.ocr_settings = dict(ocr_settings or {})
        self._ocr_engine = None
        super().__init__(image_processor, tokenizer, **kwargs)

    @classmethod
    def for_config(cls, image_processor, tokenizer, config, **kwargs) -> ResformerProcessor:
        """A processor whose OCR settings are those of a [`ResformerConfig`]."""
        return cls(
            image_processor, tokenizer, use_ocr_tokens=config.use_ocr_tokens, max_ocr_tokens=config.max_ocr_tokens,
            ocr_hash_buckets=config.ocr_hash_buckets, ocr_ids_per_token=config.ocr_ids_per_token,
            max_number_tokens=config.max_number_tokens, **kwargs,
        )

    @property
    def model_input_names(self) -> list[str]:
        names = ["pixel_values", "entity_ids"]
        if self.use_ocr_tokens:
            names += [f"ocr_{name}" for name in ("input_ids", "bbox", "token_types", "attention_mask",
                                                 "candidate_ids", "candidate_index", "candidate_mask")]
        return names

    @property
    def ocr_engine(self):
        """The [`RapidOcrEngine`] that reads images given without OCR lines (built on first use)."""
        if self._ocr_engine is None:
            from hf_pricer.data.ocr import RapidOcrEngine

            self._ocr_engine = RapidOcrEngine(**self.ocr_settings)
        return self._ocr_engine

    def _candidate_tokens(self, text: str) -> list[int] | None:
        """Output tokens of an OCR number in canonical form (`"500"` → `5 0 0 . 0`), None when too long."""
        number = np.format_float_positional(float(text.replace(",", ".")), unique=True, trim="0")
        if len(number) > self.max_number_tokens:
            return None
        return self.tokenizer.convert_tokens_to_ids(list(number))

    def encode_ocr(self, ocr: Sequence[list[dict]]) -> dict[str, torch.Tensor]:
        """OCR lines of each image → the model's OCR inputs (token features, padded to the longest image, and
        the number candidates)."""
        features, candidates = [], []
        for lines in ocr:
            words, feature = ocr_token_features(
                lines or [], self.max_ocr_tokens, self.ocr_hash_buckets, self.ocr_ids_per_token
            )
            features.append(feature)
            found = []
            for position, word in enumerate(words):
                if feature["token_types"][position] == OCR_TOKEN_TYPES["number"]:
                    tokens = self._candidate_tokens(word.text)
                    if tokens is not None:
                        found.append((position, tokens))
            candidates.append(found)
        batch = len(features)
        tokens = max(1, max(len(f["token_types"]) for f in features))
        count = max(1, max(map(len, candidates)))
        out = {
            "ocr_input_ids": torch.zeros(batch, tokens, self.ocr_ids_per_token, dtype=torch.long),
            "ocr_bbox": torch.zeros(batch, tokens, 4, dtype=torch.long),
            "ocr_token_types": torch.zeros(batch, tokens, dtype=torch.long),
            "ocr_attention_mask": torch.zeros(batch, tokens, dtype=torch.long),
            "ocr_candidate_ids": torch.full((batch, count, self.max_number_tokens), self.tokenizer.pad_token_id),
            "ocr_candidate_index": torch.zeros(batch, count, dtype=torch.long),
            "ocr_candidate_mask": torch.zeros(batch, count, dtype=torch.long),
        }
        for row, (feature, found) in enumerate(zip(features, candidates)):
            n = len(feature["token_types"])
            # An image without text keeps one masked-in blank token, so that attention never sees only padding.
            out["ocr_attention_mask"][row, : max(n, 1)] = 1
            if n:
                out["ocr_input_ids"][row, :n] = torch.tensor(feature["input_ids"])
                out["ocr_bbox"][row, :n] = torch.tensor(feature["bbox"])
                out["ocr_token_types"][row, :n] = torch.tensor(feature["token_types"])
            for k, (position, ids) in enumerate(found):
                out["ocr_candidate_ids"][row, k, : len(ids)] = torch.tensor(ids)
                out["ocr_candidate_index"][row, k] = position
                out["ocr_candidate_mask"][row, k] = 1
        return out

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
        ocr: Sequence[list[dict] | None] | None = None,
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

        With `use_ocr_tokens`, `ocr` gives each image's OCR lines (see `hf_pricer.data.ocr`); images without
        them (`ocr` None, or a None entry) are read by `ocr_engine`. The OCR inputs are added (see
        [`encode_ocr`]).
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
        if self.use_ocr_tokens:
            ocr = [None] * len(images) if ocr is None else list(ocr)
            if len(ocr) != len(images):
                raise ValueError(f"got {len(images)} images but OCR lines for {len(ocr)}")
            missing = [k for k, lines in enumerate(ocr) if lines is None]
            if missing:
                from hf_pricer.data.images import load_image

                limits = self.image_processor
                for k in missing:  # an unusable image is counted by the image processor, and has no text
                    image, _ = load_image(images[k], max_pixels=limits.max_pixels, max_bytes=limits.max_bytes,
                                          timeout=limits.timeout)
                    ocr[k] = [] if image is None else self.ocr_engine(image)
            data.update(self.encode_ocr(ocr))
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
                ocr=[example.get("ocr") for example in examples],
                train=self.train,
                ids=[example.get("id", example.get("index")) for example in examples],
            )
        )


__all__ = ["ResformerCollator", "ResformerProcessor"]
