"""Tabular features (`TabularFeatures`) and JSON-saved TF-IDF (`TfidfText`) of
`hf_pricer.feature_extraction_utils`."""

import json
import math

import numpy as np
import pytest
from datasets import Dataset

from hf_pricer.data.features import QUANTITY_FEATURES
from hf_pricer.feature_extraction_utils import (
    MISSING_ID,
    UNSEEN_ID,
    TabularFeatures,
    TfidfText,
    padded_sparse_rows,
)

ITEMS = [
    {
        "title": "Water filter, Pack of 3",
        "text": "Weighs 2 lbs",
        "category": "Appliances",
        "price": 30.0,
        "details": json.dumps({"Brand": "GE"}),
    },
    {
        "title": "Ceramic heater 1500W",
        "text": "Compact",
        "category": "Appliances",
        "price": 45.0,
        "details": json.dumps({"Brand": "GE", "Item Weight": "5 pounds"}),
    },
    {"title": "Oak frame", "text": "Hand finished", "category": "Home", "price": 20.0, "details": "{}"},
    {
        "title": "Kettle 1.7 l",
        "text": "Steel, 2200 W",
        "category": "",
        "price": 35.0,
        "details": json.dumps({"Brand Name": "Bosch"}),
        "rating": 4.5,
    },
]


def test_fit_standardizes_and_keeps_missing_values_missing():
    tabular = TabularFeatures(["quantities", "rating"], ["category", "brand"], min_frequency=2).fit(ITEMS)
    assert tabular.numeric_feature_names == [*QUANTITY_FEATURES, "rating"]
    inputs = tabular(ITEMS)
    numeric, categorical = inputs["numeric_features"], inputs["categorical_features"]
    assert numeric.shape == (4, len(QUANTITY_FEATURES) + 1) and numeric.dtype == np.float32
    weight = tabular.numeric_feature_names.index("weight_g")
    assert math.isnan(numeric[2, weight])  # the oak frame states no weight
    present = ~np.isnan(numeric[:, weight])
    assert abs(numeric[present, weight].mean()) < 1e-5  # standardized over the values present
    assert np.isnan(numeric[:3, -1]).all() and numeric[3, -1] == 0.0  # one rating: mean 4.5, std 1
    # categories: id 2.. for values seen min_frequency times, 1 for rarer ones, 0 for missing
    assert tabular.vocabularies == {"category": ["appliances"], "brand": ["ge"]}
    assert categorical.tolist() == [[2, 2], [2, 2], [UNSEEN_ID, MISSING_ID], [MISSING_ID, UNSEEN_ID]]
    assert tabular.categorical_cardinalities == [3, 3]


def test_values_are_clipped_and_unfitted_use_fails():
    with pytest.raises(ValueError, match="not fitted"):
        TabularFeatures().__call__(ITEMS)
    tabular = TabularFeatures(["rating"], []).fit([{"rating": 1.0}, {"rating": 1.1}, {"rating": 0.9}])
    assert tabular([{"rating": 1e9}])["numeric_features"][0, 0] == 5.0


def test_round_trip_and_prepared_columns():
    tabular = TabularFeatures(["quantities"], ["brand"], min_frequency=1).fit(ITEMS)
    restored = TabularFeatures.from_dict(json.loads(json.dumps(tabular.to_dict())))
    np.testing.assert_array_equal(
        restored(ITEMS)["categorical_features"], tabular(ITEMS)["categorical_features"]
    )
    np.testing.assert_allclose(restored(ITEMS)["numeric_features"], tabular(ITEMS)["numeric_features"])

    prepared = tabular.add_to_dataset(Dataset.from_list(ITEMS)).to_list()
    np.testing.assert_allclose(tabular(prepared)["numeric_features"], tabular(ITEMS)["numeric_features"])
    # prepared values are used as they are, not recomputed
    prepared[0]["numeric_features"] = [7.0] * len(QUANTITY_FEATURES)
    assert (tabular(prepared)["numeric_features"][0] == 7.0).all()


def test_text_embedding_columns():
    tabular = TabularFeatures(["title_embedding"], []).fit(ITEMS)
    assert (
        tabular.numeric_feature_names[0] == "title_embedding_0" and len(tabular.numeric_feature_names) == 384
    )
    numeric = tabular(ITEMS)["numeric_features"]
    assert numeric.shape == (4, 384) and not np.isnan(numeric).any()


def test_tfidf_text_saves_as_json_and_transforms_identically():
    texts = ["steel kettle 1.7 l", "oak frame kettle", "steel oak spoon", "kettle steel"]
    fitted = TfidfText("word", (1, 2), min_df=1, stop_words=None).fit(texts)
    restored = TfidfText.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert restored.size == fitted.size
    assert abs(restored.transform(texts) - fitted.transform(texts)).max() == 0
    with pytest.raises(ValueError, match="not fitted"):
        TfidfText().transform(texts)


def test_padded_sparse_rows():
    import scipy.sparse as sp

    ids, weights = padded_sparse_rows(
        sp.csr_matrix(np.array([[0, 2.0, 0, 1.0], [0, 0, 0, 0], [3.0, 0, 0, 0]]))
    )
    assert ids.tolist() == [[1, 3], [0, 0], [0, 0]] and weights.tolist() == [[2.0, 1.0], [0, 0], [3.0, 0]]
