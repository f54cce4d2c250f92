"""Tests of the challenge's entity values: parser, canonical format, prediction check, sanity checker, F1."""

from __future__ import annotations

import math

import pytest

from hf_pricer.data import catalog
from hf_pricer.data.entities import (
    ALLOWED_UNITS,
    ENTITY_NAMES,
    ENTITY_UNIT_MAP,
    UNIT_ALIASES,
    EntityValueError,
    ParsedEntityValue,
    SanityCheckError,
    check_prediction,
    format_prediction,
    normalize_entity_value,
    normalize_entity_values,
    parse_entity_value,
    sanity_check,
)
from tests.utils import write_csv


def test_unit_map_is_the_challenge_list():
    assert ENTITY_NAMES == (
        "width",
        "depth",
        "height",
        "item_weight",
        "maximum_weight_recommendation",
        "voltage",
        "wattage",
        "item_volume",
    )
    assert ENTITY_UNIT_MAP["voltage"] == ("kilovolt", "millivolt", "volt")
    assert ENTITY_UNIT_MAP["wattage"] == ("kilowatt", "watt")
    assert len(ENTITY_UNIT_MAP["item_volume"]) == 13 and "imperial gallon" in ENTITY_UNIT_MAP["item_volume"]
    assert len(ALLOWED_UNITS) == 6 + 7 + 3 + 2 + 13
    assert set(UNIT_ALIASES) == ALLOWED_UNITS
    for entity, units in catalog.ENTITY_UNITS.items():
        assert set(units) <= set(ENTITY_UNIT_MAP[entity])


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        (2, "gram", "2.0 gram"),
        (12.5, "centimetre", "12.5 centimetre"),
        (220.0, "kilogram", "220.0 kilogram"),
        (1e16, "watt", "10000000000000000.0 watt"),
        (1e-7, "litre", "0.0000001 litre"),
        (-0.0, "volt", "0.0 volt"),
        (0.1 + 0.2, "cup", "0.30000000000000004 cup"),
        (3, "fluid ounce", "3.0 fluid ounce"),
    ],
)
def test_format_prediction_is_canonical(value, unit, expected):
    text = format_prediction(value, unit)
    assert text == expected
    assert "e" not in text.split(" ")[0] and check_prediction(text, None) is None
    assert parse_entity_value(text) == (float(value), unit)


@pytest.mark.parametrize(
    "value, unit, entity, message",
    [
        (1, "gms", None, "'gms' is not allowed"),
        (1, "volt", "wattage", "not allowed for entity 'wattage'"),
        (-1, "gram", None, "finite number >= 0"),
        (math.inf, "gram", None, "finite number >= 0"),
        (math.nan, "gram", None, "finite number >= 0"),
        (1, "gram", "weight", "unknown entity_name 'weight'"),
    ],
)
def test_format_prediction_rejects(value, unit, entity, message):
    with pytest.raises(ValueError, match=message):
        format_prediction(value, unit, entity_name=entity)


@pytest.mark.parametrize(
    "text, entity, expected",
    [
        ("1.0 kilogram", "item_weight", "1.0 kilogram"),
        ("500 gms", "item_weight", "500.0 gram"),
        ("500g", None, "500.0 gram"),
        ("12 volts", "voltage", "12.0 volt"),
        ("12V", "voltage", "12.0 volt"),
        ("5 feet", "height", "5.0 foot"),
        ("2 meters", "width", "2.0 metre"),
        ("30 Centimeter", "depth", "30.0 centimetre"),
        ("3 inches", "width", "3.0 inch"),
        ("2.5 KG", "maximum_weight_recommendation", "2.5 kilogram"),
        ("1 lbs", "item_weight", "1.0 pound"),
        ("16 oz", "item_weight", "16.0 ounce"),
        ("16 oz", "item_volume", "16.0 fluid ounce"),
        ("16 fl. oz.", "item_volume", "16.0 fluid ounce"),
        ("750 mL", "item_volume", "750.0 millilitre"),
        ("1l", "item_volume", "1.0 litre"),
        ("1,5 l", "item_volume", "1.5 litre"),
        ("1,000 ml", "item_volume", "1000.0 millilitre"),
        ("3dl", "item_volume", "3.0 decilitre"),
        ("2 cu ft", "item_volume", "2.0 cubic foot"),
        ("2 ft³", "item_volume", "2.0 cubic foot"),
        ("100 µg", "item_weight", "100.0 microgram"),
        ("1500 W", "wattage", "1500.0 watt"),
        ("1.5 kw", "wattage", "1.5 kilowatt"),
        ("2.2e2 kilogram", "item_weight", "220.0 kilogram"),
        (".5 cup", "item_volume", "0.5 cup"),
        ("  7   yards ", "width", "7.0 yard"),
        ("[10.0, 20.0] centimetre", "width", "10.0 centimetre"),
        ("100-240 V", "voltage", "100.0 volt"),
        ("", "voltage", ""),
        ("   ", None, ""),
        (None, None, ""),
        (math.nan, "item_weight", ""),
    ],
)
def test_messy_labels_are_normalised(text, entity, expected):
    assert normalize_entity_value(text, entity) == expected


def test_ranges_policy():
    assert parse_entity_value("[10.0, 20.0] centimetre", ranges="max") == ParsedEntityValue(
        20.0, "centimetre"
    )
    assert parse_entity_value("[30.0, 20.0] cm") == (30.0, "centimetre")
    assert parse_entity_value("6 to 9 v", ranges="max") == (9.0, "volt")
    with pytest.raises(EntityValueError) as error:
        parse_entity_value("[10.0, 20.0] centimetre", ranges="reject")
    assert error.value.reason == "range of values"
    with pytest.raises(ValueError, match="ranges must be"):
        parse_entity_value("1 g", ranges="min")


@pytest.mark.parametrize(
    "text, entity, reason",
    [
        ("litres", "item_volume", "no value"),
        ("gram", None, "no value"),
        ("500", "item_weight", "no unit"),
        ("12 parsecs", None, "unknown unit"),
        ("5 volt", "item_weight", "unit not allowed for entity"),
        ("5 gram", "weight", "unknown entity"),
        ("-5 gram", None, "negative value"),
        ("1e999 gram", None, "malformed number"),
        ("1,2,3 gram", None, "malformed number"),
        ("[a, b] gram", None, "malformed number"),
        (12, None, "malformed number"),
    ],
)
def test_unparseable_labels_raise_with_a_reason(text, entity, reason):
    with pytest.raises(EntityValueError) as error:
        parse_entity_value(text, entity)
    assert error.value.reason == reason
    assert repr(text) in str(error.value)


def test_normalize_entity_values_reports_failures_by_reason():
    texts = ["500 gms", "litres", "12 volts", "", "12 parsecs", "water", "5 volt"]
    entities = ["item_weight", "item_volume", "voltage", "width", "width", "item_volume", "item_weight"]
    values, report = normalize_entity_values(texts, entities, ids=[f"r{i}" for i in range(7)])
    assert values == ["500.0 gram", None, "12.0 volt", "", None, None, None]
    assert report.kept == 3 and report.skipped == 4
    assert report.counts == {"no value": 2, "unknown unit": 1, "unit not allowed for entity": 1}
    assert report.examples["no value"] == ["litres", "water"]
    assert "2 no value (e.g. 'litres', 'water')" in report.summary()
    with pytest.raises(ValueError, match="same length"):
        normalize_entity_values(["1 g"], ["item_weight", "width"])


@pytest.mark.parametrize(
    "prediction, entity, reason",
    [
        ("2 gram", "item_weight", None),
        ("2.0 gram", "item_weight", None),
        ("12.5 centimetre", "width", None),
        ("3.0 fluid ounce", "item_volume", None),
        ("", "voltage", None),
        (None, "voltage", None),
        (math.nan, "voltage", None),
        ("2 gms", "item_weight", "unit not allowed for entity"),
        ("2.2e2 kilogram", "item_weight", "invalid format"),
        ("[10.0, 20.0] centimetre", "width", "invalid format"),
        ("10.0 20.0 centimetre", "width", "invalid format"),
        ("10.0 centimetre 20.0 centimetre", "width", "invalid format"),
        ("-2 gram", "item_weight", "invalid format"),
        (" 2 gram", "item_weight", "invalid format"),
        (" ", "item_weight", "invalid format"),
        ("2  gram", "item_weight", "invalid format"),
        ("2. gram", "item_weight", "invalid format"),
        ("2 volt", "item_weight", "unit not allowed for entity"),
        ("2 meter", "width", "unit not allowed for entity"),
        ("2 gram", "weight", "unknown entity"),
        (2.0, "item_weight", "not a string"),
    ],
)
def test_check_prediction(prediction, entity, reason):
    result = check_prediction(prediction, entity)
    if reason is None:
        assert result is None
    else:
        assert result is not None and result.startswith(reason), result


# ----------------------------------------------------------------------------------------------
# sanity checker
# ----------------------------------------------------------------------------------------------


def write_test_csv(folder):
    """A challenge test file of four rows, indices 0 to 3."""
    rows = [
        (0, "http://x/0.jpg", 1, "item_weight"),
        (1, "http://x/1.jpg", 1, "width"),
        (2, "http://x/2.jpg", 2, "voltage"),
        (3, "http://x/3.jpg", 2, "item_volume"),
    ]
    return write_csv(folder / "test.csv", ["index", "image_link", "group_id", "entity_name"], rows)


@pytest.fixture
def test_csv(tmp_path):
    return write_test_csv(tmp_path)


def test_sanity_check_accepts_a_good_file(test_csv, tmp_path):
    good = [(0, "2.0 gram"), (1, "12.5 centimetre"), (2, ""), (3, "3 fluid ounce")]
    output = write_csv(tmp_path / "out.csv", ["index", "prediction"], good)
    assert sanity_check(test_csv, output) == {"rows": 4, "empty": 1}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(0, "2.0 gram"), (1, "1.0 inch"), (2, "")], "1 missing index(es): 3"),
        (
            [(0, "2.0 gram"), (1, "1.0 inch"), (2, ""), (3, ""), (9, "")],
            "1 extra index(es) not in the test file: 9",
        ),
        ([(0, "2.0 gram"), (0, "2.0 gram"), (1, "1.0 inch"), (2, ""), (3, "")], "answered more than once: 0"),
        ([(0, "2.0 volt"), (1, "1.0 inch"), (2, ""), (3, "")], "index 0: unit not allowed for entity"),
        ([(0, "2.2e2 kilogram"), (1, "1.0 inch"), (2, ""), (3, "")], "index 0: invalid format"),
        ([(0, "2.0 gram"), (1, "[10.0, 20.0] inch"), (2, ""), (3, "")], "index 1: invalid format"),
        ([(0, "2.0 gram"), (1, "1.0 inch 2.0 inch"), (2, ""), (3, "")], "index 1: invalid format"),
    ],
)
def test_sanity_check_rejects(test_csv, tmp_path, rows, message):
    output = write_csv(tmp_path / "out.csv", ["index", "prediction"], rows)
    with pytest.raises(SanityCheckError, match="fails the sanity check") as error:
        sanity_check(test_csv, output)
    assert message in str(error.value)


def test_sanity_check_file_errors(test_csv, tmp_path):
    with pytest.raises(SanityCheckError, match="file not found"):
        sanity_check(test_csv, tmp_path / "absent.csv")
    with pytest.raises(SanityCheckError, match="only .csv files"):
        sanity_check(test_csv, tmp_path / "out.txt")
    no_prediction = write_csv(tmp_path / "bad.csv", ["index", "value"], [(0, "2.0 gram")])
    with pytest.raises(SanityCheckError, match=r"missing column\(s\) \['prediction'\]"):
        sanity_check(test_csv, no_prediction)


def test_sanity_check_without_entity_column_accepts_any_allowed_unit(tmp_path):
    test = write_csv(tmp_path / "test.csv", ["index"], [(0,), (1,)])
    ok = write_csv(tmp_path / "ok.csv", ["index", "prediction"], [(0, "2.0 volt"), (1, "1.0 cup")])
    assert sanity_check(test, ok)["rows"] == 2
    bad = write_csv(tmp_path / "bad.csv", ["index", "prediction"], [(0, "2.0 volts"), (1, "")])
    with pytest.raises(SanityCheckError, match="index 0: unknown unit"):
        sanity_check(test, bad)
