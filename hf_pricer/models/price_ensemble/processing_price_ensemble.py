"""Processor of the price ensemble: items → every member's inputs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import transformers
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from hf_pricer.data.features import details_text, item_details
from hf_pricer.data.schema import item_text
from hf_pricer.feature_extraction_utils import (
    CATEGORICAL_COLUMN,
    NUMERIC_COLUMN,
    TabularFeatures,
    TfidfText,
    padded_sparse_rows,
)
from hf_pricer.processing_utils import add_labels

TEXT_FIELDS = ("title", "category", "text")


class PriceEnsembleProcessor(FeatureExtractionMixin):
    r"""
    Turns items into the inputs of [`PriceEnsembleForPriceRegression`]: each price-model member's inputs from
    that member's own processor (`member_inputs`), and for the linear and gradient-boosting members the
    ensemble's numeric and categorical features and the word and character TF-IDF of the item text (title,
    category, text and, with `use_details`, the `details` attributes as `key: value` lines) as padded sparse
    rows.

    `save_pretrained` writes this processor's `preprocessor_config.json` (TF-IDF vocabularies and idf weights,
    the tabular features' statistics: JSON, never a pickle) and each member's processor into the subfolder
    named after the member; `from_pretrained` reads them back.

    Args:
        member_processors (`dict[str, processor]`, *optional*):
            The processor of each price-model member.
        tabular_features ([`TabularFeatures`] or `dict`, *optional*):
            The ensemble's numeric and categorical features.
        word_tfidf, char_tfidf ([`TfidfText`] or `dict`, *optional*):
            The fitted word and character n-gram TF-IDF vectorizers.
        use_details (`bool`, *optional*, defaults to `True`):
            Add the `details` attributes to the TF-IDF text.
        member_processor_classes (`dict[str, str]`, *optional*):
            The Auto class that loads each member's processor; filled in when saving.
    """

    model_input_names = [
        "member_inputs",
        NUMERIC_COLUMN,
        CATEGORICAL_COLUMN,
        "word_ids",
        "word_weights",
        "char_ids",
        "char_weights",
    ]

    def __init__(
        self,
        member_processors: Mapping[str, Any] | None = None,
        tabular_features: TabularFeatures | Mapping | None = None,
        word_tfidf: TfidfText | Mapping | None = None,
        char_tfidf: TfidfText | Mapping | None = None,
        use_details: bool = True,
        member_processor_classes: Mapping[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.member_processors = dict(member_processors or {})
        self.tabular_features = (
            TabularFeatures.from_dict(tabular_features)
            if isinstance(tabular_features, Mapping)
            else tabular_features
        )
        self.word_tfidf = TfidfText.from_dict(word_tfidf) if isinstance(word_tfidf, Mapping) else word_tfidf
        self.char_tfidf = TfidfText.from_dict(char_tfidf) if isinstance(char_tfidf, Mapping) else char_tfidf
        self.use_details = use_details
        self.member_processor_classes = dict(member_processor_classes or {})

    def item_text(self, item: Mapping[str, Any]) -> str:
        """The text the TF-IDF vectorizers read."""
        text = item_text(item, TEXT_FIELDS)
        if self.use_details:
            details = details_text(item_details(item))
            text = f"{text}\n{details}" if details else text
        return text

    def process_items(self, items: Sequence[Mapping[str, Any]]) -> BatchFeature:
        """The ensemble's inputs for a list of items (dicts in the item schema); what the `price-regression`
        pipeline calls."""
        items = [dict(item) for item in items]
        data: dict[str, Any] = {}
        prepared = items
        if self.tabular_features is not None:
            data.update(self.tabular_features(items))
            prepared = [
                {**item, NUMERIC_COLUMN: numeric, CATEGORICAL_COLUMN: categorical}
                for item, numeric, categorical in zip(items, data[NUMERIC_COLUMN], data[CATEGORICAL_COLUMN])
            ]
        texts = [self.item_text(item) for item in items]
        for name, vectorizer in (("word", self.word_tfidf), ("char", self.char_tfidf)):
            if vectorizer is not None:
                data[f"{name}_ids"], data[f"{name}_weights"] = padded_sparse_rows(vectorizer.transform(texts))
        batch = BatchFeature(data, tensor_type="pt")
        batch["member_inputs"] = {
            # a member whose tabular features are the ensemble's reuses them rather than parse and embed again
            name: dict(processor.process_items(prepared if self._shares_tabular(processor) else items))
            for name, processor in self.member_processors.items()
        }
        return batch

    def _shares_tabular(self, processor) -> bool:
        member_tabular = getattr(processor, "tabular_features", None)
        return (
            member_tabular is not None
            and self.tabular_features is not None
            and member_tabular.to_dict() == self.tabular_features.to_dict()
        )

    def __call__(self, items: Sequence[Mapping[str, Any]], return_tensors: str | None = "pt") -> BatchFeature:
        if return_tensors not in ("pt", None):
            raise ValueError(
                f"PriceEnsembleProcessor returns torch tensors, got return_tensors={return_tensors!r}"
            )
        return self.process_items(items)

    # -- saving and loading -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output.pop("member_processors", None)
        output["member_processor_classes"] = {
            name: type(processor)._auto_class or "AutoFeatureExtractor"
            for name, processor in self.member_processors.items()
        }
        for name in ("tabular_features", "word_tfidf", "char_tfidf"):
            value = getattr(self, name)
            output[name] = None if value is None else value.to_dict()
        return output

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs):
        """This processor's `preprocessor_config.json` and each member's processor in
        `save_directory/<member>`."""
        files = super().save_pretrained(save_directory)
        for name, processor in self.member_processors.items():
            processor.save_pretrained(os.path.join(save_directory, name))
        if push_to_hub:
            from huggingface_hub import HfApi

            api = HfApi(token=kwargs.get("token"))
            repo_id = kwargs.get("repo_id") or os.path.basename(os.path.abspath(save_directory))
            repo_id = api.create_repo(repo_id, private=kwargs.get("private"), exist_ok=True).repo_id
            api.upload_folder(
                repo_id=repo_id,
                folder_path=save_directory,
                commit_message=kwargs.get("commit_message") or "Upload price ensemble processor",
            )
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        processor = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        kwargs.pop("subfolder", None)
        for name, auto_name in processor.member_processor_classes.items():
            auto = getattr(transformers, auto_name)
            processor.member_processors[name] = auto.from_pretrained(
                pretrained_model_name_or_path, subfolder=name, **kwargs
            )
        return processor


class PriceEnsembleCollator:
    """Data collator: items → the ensemble's inputs, and `labels` (prices in dollars) when the items have prices;
    a missing, non-finite or non-positive price among them is a `ValueError` naming the example
    ([`hf_pricer.processing_utils.collate_labels`])."""

    def __init__(self, processor: PriceEnsembleProcessor):
        self.processor = processor

    def __call__(self, examples: list[dict]) -> dict:
        return add_labels(dict(self.processor.process_items(examples)), examples, "price", positive=True)


__all__ = ["PriceEnsembleCollator", "PriceEnsembleProcessor"]
