"""Tests of the synthetic catalog (``hf_pricer.data.catalog``) and its rendering (``data.rendering``)."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

from hf_pricer.data.catalog import (
    CATEGORIES,
    ENTITY_UNITS,
    IMAGE_ONLY_WORDS,
    UNIT_ABBREVIATIONS,
    catalog_features,
    generate_catalog,
    parse_entity_value,
    sample_row,
)
from hf_pricer.data.rendering import SHAPES, render_product


def _arrow_rows(ds):
    """Rows with the image as raw PNG bytes (no decoding), for byte-level comparisons."""
    return ds.data.table.to_pylist()


@pytest.fixture(scope="module")
def small():
    return generate_catalog(24, seed=0, image_size=128)


@pytest.fixture(scope="module")
def text_only():
    return generate_catalog(2000, seed=0, with_images=False)


# ----------------------------------------------------------------------------------------------
# determinism and structure
# ----------------------------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_rows_and_images():
    a = generate_catalog(6, seed=3, image_size=96)
    b = generate_catalog(6, seed=3, image_size=96)
    rows_a, rows_b = _arrow_rows(a), _arrow_rows(b)
    assert rows_a == rows_b
    assert all(isinstance(r["image"]["bytes"], bytes) and r["image"]["bytes"] for r in rows_a)
    other = generate_catalog(6, seed=4, image_size=96)
    assert other["title"] != a["title"]
    assert all(x["image"]["bytes"] != y["image"]["bytes"] for x, y in zip(_arrow_rows(other), rows_a))


def test_rows_do_not_depend_on_n_image_size_or_with_images(small):
    shorter = generate_catalog(10, seed=0, image_size=128)
    assert _arrow_rows(shorter) == _arrow_rows(small)[:10]

    no_images = generate_catalog(30, seed=0, with_images=False)
    assert "image" not in no_images.column_names
    expected = [{k: v for k, v in row.items() if k != "image"} for row in _arrow_rows(small)]
    assert _arrow_rows(no_images)[:24] == expected

    other_size = generate_catalog(24, seed=0, image_size=64, with_images=True)
    assert other_size["price"] == small["price"]
    assert other_size["entity_value"] == small["entity_value"]


def test_schema_and_dtypes(small):
    assert small.features == catalog_features(with_images=True)
    for name in (
        "id",
        "title",
        "text",
        "category",
        "image",
        "details",
        "entity_name",
        "entity_value",
        "price",
        "attr_brand",
        "attr_quantity",
        "attr_unit",
        "attr_size",
        "attr_color",
        "attr_finish",
    ):
        assert name in small.column_names
    assert small.features["image"].__class__.__name__ == "Image"
    assert small.features["price"].dtype == "float64"
    assert small.features["attr_n_features"].dtype == "int64"
    assert small.features["attr_premium_material"].dtype == "bool"
    assert all(
        c.startswith("attr_")
        for c in small.column_names
        if c
        not in {"id", "title", "text", "category", "price", "image", "details", "entity_name", "entity_value"}
    )
    assert small["id"][:3] == ["synthetic-000000", "synthetic-000001", "synthetic-000002"]
    assert generate_catalog(0, with_images=False).num_rows == 0
    assert 6 <= len(CATEGORIES) <= 8
    for row in small.select_columns(["title", "text", "category", "details"]):
        assert row["category"] in CATEGORIES
        assert len(row["title"]) > 10
        assert 2 <= len(re.findall(r"[.!?](?:\s|$)", row["text"])) <= 4
        details = json.loads(row["details"])
        assert details["category"] == row["category"]
        assert details["brand"] in row["title"]


def test_images_are_rgb_of_the_requested_size(small):
    for image in small.select(range(8))["image"]:
        assert image.mode == "RGB"
        assert image.size == (128, 128)
    big = generate_catalog(2, seed=1, image_size=224)
    assert big[1]["image"].size == (224, 224)


# ----------------------------------------------------------------------------------------------
# labels and prices
# ----------------------------------------------------------------------------------------------


def test_prices_positive_rounded_and_in_range(text_only):
    prices = np.asarray(text_only["price"])
    assert (prices > 0).all()
    assert prices.min() >= 2.0 and prices.max() <= 2000.0
    assert np.allclose(prices, np.round(prices, 2))
    log_p = np.log(prices)
    assert 0.5 < log_p.std() < 1.2  # log-normal-ish spread
    assert np.median(prices) > 10 and np.percentile(prices, 99) > 150


def test_entity_value_format(text_only):
    pattern = re.compile(r"^(\d+\.\d+) ([a-z]+(?: [a-z]+)?)$")
    cols = text_only.select_columns(
        ["entity_name", "entity_value", "attr_quantity", "attr_unit", "attr_label", "category"]
    )
    for row in cols:
        match = pattern.match(row["entity_value"])
        assert match, row["entity_value"]
        value, unit = parse_entity_value(row["entity_value"])
        assert row["entity_value"] == f"{value} {unit}"
        assert unit in ENTITY_UNITS[row["entity_name"]]
        assert value == row["attr_quantity"] > 0 and unit == row["attr_unit"]
        assert row["attr_label"] == f"{value:g} {UNIT_ABBREVIATIONS[unit]}"
    assert {"2.5 kilogram", "500.0 millilitre", "12.0 volt"} <= set(text_only["entity_value"])
    assert set(text_only["entity_name"]) == {
        "item_weight",
        "item_volume",
        "voltage",
        "wattage",
        "width",
        "height",
        "depth",
    }


def test_text_does_not_leak_image_only_attributes(text_only):
    cols = text_only.select_columns(["title", "text", "details", "attr_label", "attr_color"])
    colour_re = re.compile(r"\b(" + "|".join(map(re.escape, IMAGE_ONLY_WORDS)) + r")\b", re.IGNORECASE)
    for row in cols:
        visible = " ".join([row["title"], row["text"], row["details"]])
        assert not re.search(r"\d", visible), visible  # no quantity, no number at all
        assert row["attr_label"] not in visible
        assert not colour_re.search(visible), visible


# ----------------------------------------------------------------------------------------------
# modality shares of the price
# ----------------------------------------------------------------------------------------------


def _design(df, columns_numeric, columns_categorical):
    import pandas as pd

    parts = [df[list(columns_numeric)].astype(float).to_numpy()] if columns_numeric else []
    for c in columns_categorical:
        parts.append(pd.get_dummies(df[c], prefix=c).astype(float).to_numpy())
    return np.hstack(parts)


def test_both_modalities_clearly_beat_either_alone(text_only):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.metrics import r2_score

    df = text_only.to_pandas()
    y = np.log(df["price"].to_numpy())
    n = len(y)
    train, test = np.arange(n) < int(0.75 * n), np.arange(n) >= int(0.75 * n)

    x_text = _design(df, ["attr_premium_material", "attr_n_features"], ["category", "attr_brand_tier"])
    x_image = _design(df, ["attr_quantity_rel", "attr_size"], ["attr_finish"])
    x_both = np.hstack([x_text, x_image])

    def r2(model, x):
        model.fit(x[train], y[train])
        return r2_score(y[test], model.predict(x[test]))

    scores = {}
    for name, x in (("text", x_text), ("image", x_image), ("both", x_both)):
        scores[name] = max(
            r2(LinearRegression(), x), r2(HistGradientBoostingRegressor(max_iter=150, random_state=0), x)
        )
    print("ground-truth factor R2:", scores)
    assert scores["both"] > 0.85
    assert scores["both"] - scores["text"] >= 0.15
    assert scores["both"] - scores["image"] >= 0.15
    assert 0.25 <= scores["image"] <= 0.55  # image-only factors: a substantial share
    assert scores["text"] >= 0.35

    # the stored decomposition agrees
    var = np.var(y)
    share_image = np.var(df["attr_log_price_image"]) / var
    assert 0.25 <= share_image <= 0.55

    text = (df["title"] + " " + df["text"]).tolist()
    vec = HashingVectorizer(n_features=2**16, ngram_range=(1, 2), alternate_sign=False)
    x_words = vec.transform(text)
    text_model = Ridge(alpha=1.0).fit(x_words[train], y[train])
    r2_words = r2_score(y[test], text_model.predict(x_words[test]))
    print("HashingVectorizer+Ridge R2:", r2_words)
    assert r2_words >= 0.2
    assert scores["both"] - r2_words >= 0.15


# ----------------------------------------------------------------------------------------------
# rendered label
# ----------------------------------------------------------------------------------------------


def _render(i, canvas, draw_text=True, **override):
    row, scene = sample_row(0, i)
    scene = dataclasses.replace(scene, **override)
    rng = np.random.default_rng([0, i, 1])
    return row, np.asarray(render_product(scene, canvas, rng, draw_text=draw_text), np.int16)


@pytest.mark.parametrize("i", [0, 3, 5, 10])
def test_label_text_is_printed_legibly(i):
    _, with_text = _render(i, 128)
    _, without_text = _render(i, 128, draw_text=False)
    assert np.array_equal(
        np.asarray(generate_catalog(i + 1, image_size=128)[i]["image"]), with_text.astype(np.uint8)
    )
    ink = np.abs(with_text - without_text).sum(axis=2) > 60
    assert ink.sum() > 40, "no label text drawn"
    ys, xs = np.nonzero(ink)
    # the value line is at least ~10 px tall and wide enough to read at 128 px
    assert ys.max() - ys.min() >= 9 and xs.max() - xs.min() >= 20
    assert (with_text[ink].max(axis=1) < 60).sum() >= 15  # dark ink on a light sticker
    # the text sits on the light label sticker
    sticker = without_text[(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2]
    assert np.abs(sticker - np.array([252, 251, 246])).max() <= 3


def test_label_differs_for_different_values():
    _, a = _render(2, 128, label="8 kg")
    _, b = _render(2, 128, label="9 kg")
    diff = np.abs(a - b).sum(axis=2) > 30
    assert 0 < diff.mean() < 0.05  # only the digit changes


def test_image_only_factors_change_the_image():
    _, base = _render(1, 96)
    row, scene = sample_row(0, 1)
    for override in (
        {"size": scene.size * 0.7},
        {"rgb": (10, 200, 10)},
        {"finish": "metallic" if scene.finish != "metallic" else "matte"},
    ):
        _, other = _render(1, 96, **override)
        assert np.abs(base - other).sum() > 0, override
    assert math.isclose(row["attr_size"], scene.size)


def test_every_category_has_a_drawn_shape_and_unknown_shapes_fail():
    assert {spec["shape"] for spec in CATEGORIES.values()} == set(SHAPES)
    _, scene = sample_row(0, 0)
    with pytest.raises(ValueError, match="shape"):
        render_product(dataclasses.replace(scene, shape="sphere"), 64, np.random.default_rng(0))
