"""Tabular inputs of the price models: numeric and categorical features of items, next to text and image.

:class:`TabularFeatures` turns items into the `numeric_features` (float, standardized, NaN where the item does
not state a value) and `categorical_features` (ids) that every price model takes. It is part of the model's
processor: `fit` learns the standardization statistics and the category vocabularies from the training items,
and the processor saves them (`preprocessor_config.json` / `processor_config.json`), so inference needs no
training data. Numeric features come from named sources:

- `"quantities"`: the quantity, unit and listing features of :mod:`hf_pricer.data.features` (pack count,
  weight, volume, wattage, dimensions ... in base units, `log1p`-scaled);
- `"text_embedding"` / `"title_embedding"`: the sentence embedding (mean-pooled, L2-normalised) of the item's
  title, category and text, or of its title, by `embedding_model` (all-MiniLM-L6-v2 by default, offline with
  the `encoders` extra);
- any other name: a numeric item field.

Categorical features are item fields (e.g. `category`) or `"brand"` (from `details`). Id 0 means missing, id 1
a value not seen often enough in training (`min_frequency`); the model learns an embedding for both.

Parsing and embedding cost more than a training step, so a training set is best prepared once,
`dataset = tabular.add_to_dataset(dataset)`, as tokenization is; items that carry the two columns are used as
they are.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hf_pricer.data.features import QUANTITY_FEATURES, item_brand, quantity_features
from hf_pricer.data.schema import item_text

NUMERIC_COLUMN = "numeric_features"
CATEGORICAL_COLUMN = "categorical_features"
MISSING_ID, UNSEEN_ID = 0, 1
DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Embedding sources: name → (item fields embedded, tokens kept)
EMBEDDING_SOURCES = {
    "text_embedding": (("title", "category", "text"), 256),
    "title_embedding": (("title",), 64),
}
# Standardized values beyond this many standard deviations are clipped: a unit misread in one listing (a
# wattage of 10^6) must not dominate a network's input.
CLIP = 5.0

_embedders: dict[tuple[str, int], Any] = {}


def _embedder(model: str, max_length: int):
    """One `TextEmbedder` per model and length per process (loading MiniLM takes seconds)."""
    key = (model, max_length)
    if key not in _embedders:
        from hf_pricer.data.embedders import TextEmbedder
        from hf_pricer.pretrained import text_model_path

        _embedders[key] = TextEmbedder(text_model_path(model), max_length=max_length)
    return _embedders[key]


class TabularFeatures:
    r"""
    Numeric and categorical features of items, as price-model inputs (see the module docstring).

    Args:
        numeric_features (`list[str]`, *optional*, defaults to `["quantities"]`):
            Sources of numeric features: `"quantities"`, `"text_embedding"`, `"title_embedding"` or item
            fields.
        categorical_features (`list[str]`, *optional*, defaults to `["category", "brand"]`):
            Item fields (or `"brand"`) read as categories.
        embedding_model (`str`, *optional*, defaults to `"sentence-transformers/all-MiniLM-L6-v2"`):
            Text model of the embedding sources (a Hub id or folder; all-MiniLM-L6-v2 loads offline from the
            `encoders` extra).
        min_frequency (`int`, *optional*, defaults to 2):
            A category needs this many training items to get its own id; rarer ones share the "unseen" id.
        mean, std (`list[float]`, *optional*):
            Per-column statistics of the numeric features, learned by `fit`.
        vocabularies (`dict[str, list[str]]`, *optional*):
            Per categorical feature, its values in id order from id 2, learned by `fit`.
    """

    def __init__(
        self,
        numeric_features: Sequence[str] = ("quantities",),
        categorical_features: Sequence[str] = ("category", "brand"),
        embedding_model: str = DEFAULT_EMBEDDING_MODEL,
        min_frequency: int = 2,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        vocabularies: Mapping[str, Sequence[str]] | None = None,
    ):
        self.numeric_features = list(numeric_features)
        self.categorical_features = list(categorical_features)
        self.embedding_model = embedding_model
        self.min_frequency = min_frequency
        self.mean = None if mean is None else [float(value) for value in mean]
        self.std = None if std is None else [float(value) for value in std]
        self.vocabularies = None if vocabularies is None else {k: list(v) for k, v in vocabularies.items()}
        if len(set(self.numeric_features)) != len(self.numeric_features):
            raise ValueError(f"`numeric_features` names a source twice: {self.numeric_features}")
        if self.mean is not None and not len(self.mean) == len(self.std or ()) == len(
            self.numeric_feature_names
        ):
            raise ValueError(
                f"`mean`/`std` must have one value per numeric feature "
                f"({len(self.numeric_feature_names)}), got "
                f"{len(self.mean)} and {len(self.std or ())}"
            )
        self._index = None if self.vocabularies is None else self._build_index()

    # -- names ---------------------------------------------------------------------------------------------

    def _source_names(self, source: str) -> list[str]:
        if source == "quantities":
            return list(QUANTITY_FEATURES)
        if source in EMBEDDING_SOURCES:
            return [f"{source}_{i}" for i in range(_embedding_dim(self.embedding_model))]
        return [source]

    @property
    def numeric_feature_names(self) -> list[str]:
        """One name per column of `numeric_features`."""
        return [name for source in self.numeric_features for name in self._source_names(source)]

    @property
    def categorical_cardinalities(self) -> list[int]:
        """Ids per categorical feature: its vocabulary plus the missing and unseen ids."""
        self._check_fitted()
        return [len(self.vocabularies[name]) + 2 for name in self.categorical_features]

    def config_kwargs(self) -> dict[str, list]:
        """The price-model config fields that describe these inputs (see `PriceConfigMixin`)."""
        return {
            "numeric_feature_names": self.numeric_feature_names,
            "categorical_feature_names": list(self.categorical_features),
            "categorical_cardinalities": self.categorical_cardinalities,
        }

    # -- raw values ----------------------------------------------------------------------------------------

    def raw_numeric(self, items: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """`(len(items), num_numeric)` float64 values before standardization (quantities `log1p`-scaled), NaN
        where missing."""
        columns = []
        for source in self.numeric_features:
            if source == "quantities":
                rows = [quantity_features(item) for item in items]
                block = np.array(
                    [[row[name] for name in QUANTITY_FEATURES] for row in rows], dtype=np.float64
                )
                block = block.reshape(len(items), len(QUANTITY_FEATURES))
                logged = [scale == "log" for _, scale in QUANTITY_FEATURES.values()]
                block[:, logged] = np.log1p(np.maximum(block[:, logged], 0.0))
            elif source in EMBEDDING_SOURCES:
                fields, max_length = EMBEDDING_SOURCES[source]
                texts = [item_text(item, fields) for item in items]
                block = _embedder(self.embedding_model, max_length)(texts).astype(np.float64)
            else:
                block = np.array([[_numeric_field(item, source)] for item in items], dtype=np.float64)
            columns.append(block.reshape(len(items), -1))
        if not columns:
            return np.zeros((len(items), 0))
        return np.concatenate(columns, axis=1)

    def raw_categorical(self, items: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        """Per item, its value of each categorical feature (`""` when missing)."""
        return [[_category(item, name) for name in self.categorical_features] for item in items]

    # -- fitting and transforming --------------------------------------------------------------------------

    def fit(self, items: Sequence[Mapping[str, Any]]) -> TabularFeatures:
        """Learn the numeric statistics (over the values present) and the category vocabularies from training
        items; returns self."""
        items = list(items)
        self._fit(self.raw_numeric(items), self.raw_categorical(items))
        return self

    def fit_transform(self, items: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """`fit` then `__call__` on the same items, parsing and embedding them once."""
        items = list(items)
        raw, categories = self.raw_numeric(items), self.raw_categorical(items)
        self._fit(raw, categories)
        return self._transform(raw, categories)

    def _fit(self, raw: np.ndarray, categories: list[list[str]]) -> None:
        if not len(raw):
            raise ValueError("TabularFeatures.fit needs at least one item")
        with warnings.catch_warnings():
            # numpy warns for the mean of an all-NaN column, which the next lines handle
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(raw, axis=0), np.nanstd(raw, axis=0)
        # A column never present (or constant) in training carries no scale: mean 0, std 1.
        self.mean = np.where(np.isfinite(mean), mean, 0.0).tolist()
        self.std = np.where(np.isfinite(std) & (std > 0), std, 1.0).tolist()
        counts = [Counter() for _ in self.categorical_features]
        for row in categories:
            for counter, value in zip(counts, row):
                if value:
                    counter[value] += 1
        self.vocabularies = {
            name: [value for value, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
                   if count >= self.min_frequency]
            for name, counter in zip(self.categorical_features, counts)
        }
        self._index = self._build_index()

    def _build_index(self) -> list[dict[str, int]]:
        return [
            {value: position + 2 for position, value in enumerate(self.vocabularies[name])}
            for name in self.categorical_features
        ]

    def _check_fitted(self) -> None:
        if self.mean is None or self.vocabularies is None:
            raise ValueError("TabularFeatures is not fitted: call `fit(training_items)` first")
        missing = [name for name in self.categorical_features if name not in self.vocabularies]
        if missing:
            raise ValueError(f"TabularFeatures has no vocabulary for {missing}; fit it again")

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """The model inputs of items: `numeric_features`, float32 `(batch_size, num_numeric)`, and
        `categorical_features`, int64 `(batch_size, num_categorical)`; items prepared by [`add_to_dataset`]
        keep their stored values."""
        self._check_fitted()
        items = list(items)
        width, num_categorical = len(self.mean), len(self.categorical_features)
        if items and all(_has_prepared(item, width, num_categorical) for item in items):
            numeric = np.array([item[NUMERIC_COLUMN] for item in items], dtype=np.float32)
            categorical = np.array([item[CATEGORICAL_COLUMN] for item in items], dtype=np.int64)
            return {
                NUMERIC_COLUMN: numeric.reshape(len(items), width),
                CATEGORICAL_COLUMN: categorical.reshape(len(items), num_categorical),
            }
        return self._transform(self.raw_numeric(items), self.raw_categorical(items))

    def _transform(self, raw: np.ndarray, categories: list[list[str]]) -> dict[str, np.ndarray]:
        numeric = np.clip((raw - np.asarray(self.mean)) / np.asarray(self.std), -CLIP, CLIP)  # NaN stays NaN
        categorical = [
            [index.get(value, UNSEEN_ID) if value else MISSING_ID for index, value in zip(self._index, row)]
            for row in categories
        ]
        categorical = np.array(categorical, dtype=np.int64).reshape(len(raw), len(self.categorical_features))
        return {NUMERIC_COLUMN: numeric.astype(np.float32), CATEGORICAL_COLUMN: categorical}

    def add_to_dataset(self, dataset, batch_size: int = 256, **map_kwargs):
        """`dataset` (a `datasets.Dataset` of items) with the `numeric_features` and `categorical_features`
        columns computed once, so that collators do not parse and embed every epoch."""

        def add(batch: dict[str, list]) -> dict[str, list]:
            count = len(next(iter(batch.values())))
            items = [{name: values[i] for name, values in batch.items()} for i in range(count)]
            for item in items:  # recompute, even over columns of an earlier preparation
                item.pop(NUMERIC_COLUMN, None)
                item.pop(CATEGORICAL_COLUMN, None)
            inputs = self(items)
            return {name: value.tolist() for name, value in inputs.items()}

        return dataset.map(add, batched=True, batch_size=batch_size, desc="tabular features", **map_kwargs)

    # -- serialization -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric_features": list(self.numeric_features),
            "categorical_features": list(self.categorical_features),
            "embedding_model": self.embedding_model,
            "min_frequency": self.min_frequency,
            "mean": self.mean,
            "std": self.std,
            "vocabularies": self.vocabularies,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TabularFeatures:
        return cls(**values)

    def __repr__(self) -> str:
        fitted = "fitted" if self.mean is not None else "not fitted"
        return (
            f"TabularFeatures(numeric={self.numeric_features} ({len(self.numeric_feature_names)} columns), "
            f"categorical={self.categorical_features}, {fitted})"
        )


class TabularProcessorMixin:
    """For a price model's processor: holds an optional [`TabularFeatures`] as `tabular_features`, saves it
    with the processor and adds its inputs to the model inputs (`tabular_inputs`)."""

    tabular_features: TabularFeatures | None

    def _set_tabular_features(self, tabular_features: TabularFeatures | Mapping | None) -> None:
        if isinstance(tabular_features, Mapping):
            tabular_features = TabularFeatures.from_dict(tabular_features)
        self.tabular_features = tabular_features

    @property
    def tabular_input_names(self) -> list[str]:
        return [] if self.tabular_features is None else [NUMERIC_COLUMN, CATEGORICAL_COLUMN]

    def tabular_inputs(self, items: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """The `numeric_features` and `categorical_features` of items; `{}` for a processor without them."""
        return {} if self.tabular_features is None else self.tabular_features(items)

    def _serialize_tabular(self, output: dict) -> dict:
        output["tabular_features"] = (
            None if self.tabular_features is None else self.tabular_features.to_dict()
        )
        return output


class TfidfText:
    r"""
    scikit-learn's `TfidfVectorizer` that saves as JSON: its settings, vocabulary and idf weights (never a
    pickle).

    Args:
        analyzer (`str`, *optional*, defaults to `"word"`): `"word"`, `"char"` or `"char_wb"`.
        ngram_range (`list[int]`, *optional*, defaults to `[1, 2]`)
        min_df, max_df, max_features, stop_words, sublinear_tf: as in `TfidfVectorizer`, used by `fit`.
        vocabulary (`dict[str, int]`, *optional*), idf (`list[float]`, *optional*): what `fit` learns.
    """

    def __init__(
        self,
        analyzer: str = "word",
        ngram_range: Sequence[int] = (1, 2),
        min_df: int | float = 2,
        max_df: int | float = 0.9,
        max_features: int | None = None,
        stop_words: str | None = "english",
        sublinear_tf: bool = True,
        vocabulary: Mapping[str, int] | None = None,
        idf: Sequence[float] | None = None,
    ):
        self.settings = {
            "analyzer": analyzer,
            "ngram_range": list(ngram_range),
            "min_df": min_df,
            "max_df": max_df,
            "max_features": max_features,
            "stop_words": stop_words if analyzer == "word" else None,
            "sublinear_tf": sublinear_tf,
        }
        self.vocabulary = None if vocabulary is None else {term: int(i) for term, i in vocabulary.items()}
        self.idf = None if idf is None else [float(value) for value in idf]
        if self.vocabulary is not None and len(self.vocabulary) != len(self.idf or ()):
            raise ValueError(
                f"`idf` must have one value per vocabulary term ({len(self.vocabulary)}), got "
                f"{len(self.idf or ())}"
            )
        self._vectorizer = None

    def _sklearn(self, fitted: bool):
        from sklearn.feature_extraction.text import TfidfVectorizer

        settings = {**self.settings, "ngram_range": tuple(self.settings["ngram_range"])}
        if not fitted:
            return TfidfVectorizer(**settings)
        vectorizer = TfidfVectorizer(**settings, vocabulary=self.vocabulary)
        vectorizer.idf_ = np.asarray(self.idf)
        return vectorizer

    def fit(self, texts: Sequence[str]) -> TfidfText:
        vectorizer = self._sklearn(fitted=False).fit(list(texts))
        self.vocabulary = {term: int(i) for term, i in vectorizer.vocabulary_.items()}
        self.idf = vectorizer.idf_.tolist()
        self._vectorizer = vectorizer
        return self

    def _check_fitted(self) -> None:
        if self.vocabulary is None:
            raise ValueError("TfidfText is not fitted: call `fit(texts)` first")

    @property
    def size(self) -> int:
        """Number of terms (columns)."""
        self._check_fitted()
        return len(self.vocabulary)

    def transform(self, texts: Sequence[str]):
        """Scipy CSR matrix `(len(texts), size)`, rows L2-normalised."""
        if self._vectorizer is None:
            self._check_fitted()
            self._vectorizer = self._sklearn(fitted=True)
        return self._vectorizer.transform(list(texts))

    def to_dict(self) -> dict[str, Any]:
        return {**self.settings, "vocabulary": self.vocabulary, "idf": self.idf}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TfidfText:
        return cls(**values)


def padded_sparse_rows(matrix) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a scipy CSR matrix as `(ids, weights)` of shape `(num_rows, max_nonzero)`: the column
    indices of the non-zero entries and their values, padded with index 0 and weight 0 (what `embedding_bag`
    with
    `per_sample_weights` sums back into the row's product with a weight matrix)."""
    matrix = matrix.tocsr().astype(np.float32)
    matrix.sort_indices()
    width = max(int(np.diff(matrix.indptr).max(initial=0)), 1)
    ids = np.zeros((matrix.shape[0], width), dtype=np.int64)
    weights = np.zeros((matrix.shape[0], width), dtype=np.float32)
    for row, (start, end) in enumerate(zip(matrix.indptr[:-1], matrix.indptr[1:])):
        ids[row, : end - start] = matrix.indices[start:end]
        weights[row, : end - start] = matrix.data[start:end]
    return ids, weights


def _embedding_dim(model: str) -> int:
    from transformers import AutoConfig

    from hf_pricer.pretrained import text_model_path

    return AutoConfig.from_pretrained(text_model_path(model)).hidden_size


def _numeric_field(item: Mapping[str, Any], name: str) -> float:
    value = item.get(name)
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _category(item: Mapping[str, Any], name: str) -> str:
    if name == "brand" and "brand" not in item:
        return item_brand(item)
    value = item.get(name)
    return "" if value is None else " ".join(str(value).split()).lower()


def _has_prepared(item: Mapping[str, Any], width: int, num_categorical: int) -> bool:
    numeric, categorical = item.get(NUMERIC_COLUMN), item.get(CATEGORICAL_COLUMN)
    return (
        numeric is not None
        and categorical is not None
        and len(numeric) == width
        and len(categorical) == num_categorical
    )


__all__ = ["TabularFeatures", "TabularProcessorMixin", "TfidfText", "padded_sparse_rows"]
