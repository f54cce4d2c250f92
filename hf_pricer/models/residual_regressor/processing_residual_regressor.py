"""Text processor of the residual price regressor: product text → hashed bag-of-words features."""

from __future__ import annotations

import numpy as np
import torch
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from hf_pricer.data.schema import item_text
from hf_pricer.feature_extraction_utils import TabularFeatures, TabularProcessorMixin, padded_sparse_rows
from hf_pricer.processing_utils import add_labels


class ResidualRegressorProcessor(TabularProcessorMixin, FeatureExtractionMixin):
    r"""
    Turns product text into the features of [`ResidualRegressorForPriceRegression`] with scikit-learn's
    `HashingVectorizer`. Hashing is stateless: the processor needs no fitting and is fully described by
    the arguments below, which `save_pretrained` writes to `preprocessor_config.json`.

    Args:
        n_features (`int`, *optional*, defaults to 5000): width of the hashed feature vector.
        stop_words (`str` or `list[str]`, *optional*, defaults to `"english"`): words dropped before hashing.
        binary (`bool`, *optional*, defaults to `True`): presence/absence instead of counts.
        norm (`str`, *optional*, defaults to `"l2"`): row normalisation (`"l1"`, `"l2"` or `None`).
        alternate_sign (`bool`, *optional*, defaults to `True`): sign the features by hash to cancel collisions.
        lowercase (`bool`, *optional*, defaults to `True`)
        ngram_range (`tuple[int, int]`, *optional*, defaults to `(1, 1)`)
        text_fields (`list[str]`, *optional*, defaults to `["title", "text"]`):
            Item fields joined (one per line) into the text that is hashed, see [`item_text`].
        tabular_features ([`TabularFeatures`] or `dict`, *optional*):
            Numeric and categorical features of the items (quantities, units, brand ...), fitted on the
            training items, for a model whose config names them; saved with the processor.

    The defaults are the design's `HashingVectorizer(n_features=5000, stop_words="english", binary=True)`,
    including scikit-learn's defaults it relied on (`norm="l2"`, `alternate_sign=True`).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        n_features: int = 5000,
        stop_words: str | list[str] | None = "english",
        binary: bool = True,
        norm: str | None = "l2",
        alternate_sign: bool = True,
        lowercase: bool = True,
        ngram_range: tuple[int, int] | list[int] = (1, 1),
        text_fields: list[str] | tuple[str, ...] = ("title", "text"),
        tabular_features: TabularFeatures | dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._set_tabular_features(tabular_features)
        self.n_features = n_features
        self.stop_words = stop_words
        self.binary = binary
        self.norm = norm
        self.alternate_sign = alternate_sign
        self.lowercase = lowercase
        self.ngram_range = list(ngram_range)
        self.text_fields = list(text_fields)
        from sklearn.feature_extraction.text import HashingVectorizer

        # The saved arguments are the vectorizer's: hashing is stateless, so they describe it fully.
        same_names = ("n_features", "stop_words", "binary", "norm", "alternate_sign", "lowercase")
        self._vectorizer = HashingVectorizer(
            **{name: getattr(self, name) for name in same_names}, ngram_range=tuple(self.ngram_range)
        )

    def to_dict(self):
        output = super().to_dict()
        output.pop("_vectorizer", None)
        return self._serialize_tabular(output)

    def item_text(self, item: dict) -> str:
        """The text of an item that gets hashed: its `text_fields`, non-empty ones joined by newlines."""
        return item_text(item, self.text_fields)

    def process_items(self, items: list[dict], sparse: bool = False) -> BatchFeature:
        """Model inputs of items (dicts with the item schema's text fields): the hashed text and, when the
        processor has them, the tabular features; what the data collator and the `price-regression` pipeline
        call."""
        batch = self([self.item_text(item) for item in items], sparse=sparse)
        batch.update(BatchFeature(self.tabular_inputs(items), tensor_type="pt"))
        return batch

    def __call__(
        self,
        text: str | list[str],
        sparse: bool = False,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        r"""
        Hash one text or a batch of texts.

        Returns a [`BatchFeature`] with, when `sparse=False`, `input_features` of shape
        `(batch_size, n_features)`; when `sparse=True`, `feature_ids` and `feature_weights` of shape
        `(batch_size, max_active_features)`: the indices of the non-zero features and their values,
        padded with index 0 and weight 0. Both describe the same vector.
        """
        texts = [text] if isinstance(text, str) else list(text)
        for position, value in enumerate(texts):
            if not isinstance(value, str):
                raise TypeError(f"`text[{position}]` must be a string, got {type(value).__name__}: {value!r}")
        matrix = self._vectorizer.transform(texts).astype(np.float32)
        if not sparse:
            return BatchFeature({"input_features": matrix.toarray()}, tensor_type=return_tensors)
        ids, weights = padded_sparse_rows(matrix)
        return BatchFeature({"feature_ids": ids, "feature_weights": weights}, tensor_type=return_tensors)


class ResidualRegressorCollator:
    """Data collator: examples (items: dicts with the item schema's text fields and `price`) → model batch.

    Hashing happens here, per batch, so map-style and streaming datasets need no preprocessing pass.
    Use it with `remove_unused_columns=False` (the [`PricerTrainingArguments`] default), since the
    model's `forward` does not take the raw text columns. Adds `labels` when the examples have prices; a
    missing, non-finite or non-positive price among them is a `ValueError` naming the example
    ([`hf_pricer.processing_utils.collate_labels`]).
    """

    def __init__(self, processor: ResidualRegressorProcessor, sparse: bool = False):
        self.processor = processor
        self.sparse = sparse

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = dict(self.processor.process_items(examples, sparse=self.sparse))
        return add_labels(batch, examples, "price", positive=True)


__all__ = ["ResidualRegressorCollator", "ResidualRegressorProcessor"]
