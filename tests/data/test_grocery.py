"""Tests of the Grocery Store Dataset's package labels (hand-made texts; the real folder when present)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hf_pricer.data.challenge import challenge_dataset
from hf_pricer.data.entities import EntityValueError, EntityValueReport, check_prediction
from hf_pricer.data.grocery import (
    grocery_package_labels,
    grocery_package_rows,
    parse_grocery_information,
    parse_package_size,
)
from tests.utils import GROCERY as GROCERY_DIR

GROCERY = Path(GROCERY_DIR)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Title: Milk\nManufacturer and volume: ARLA KO , 1l \nOrigin: Sweden", ("item_volume", "1.0 litre")),
        ("Manufacturer and volume: ALPRO , 750g ", ("item_weight", "750.0 gram")),
        ("Manufacturer and volume: ARLA KO, 3dl", ("item_volume", "3.0 decilitre")),
        ("Manufacturer and volume: VALIO , 1kg", ("item_weight", "1.0 kilogram")),
        ("Manufacturer and volume: TROPICANA\xa0,\xa01l ", ("item_volume", "1.0 litre")),  # no-break spaces
        ("manufacturer and volume: BRAND, INC. , 1,5 l", ("item_volume", "1.5 litre")),
        ("Manufacturer and volume: GARANT , ca 500 ml", ("item_volume", "500.0 millilitre")),
        ("Manufacturer and volume: 2l", ("item_volume", "2.0 litre")),
        ("Title: Banana\nCountry and volume: Ecuador, ca 180g", ("item_weight", "180.0 gram")),  # fruit
    ],
)
def test_parse_package_size(text, expected):
    assert parse_package_size(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Title: Banana\nCountry: Ecuador", "no size line"),
        ("Manufacturer and volume: ARLA , 12 V", "not a volume or weight"),
        ("Manufacturer and volume: ARLA , ", "not a volume or weight"),
        ("Manufacturer and volume: ARLA , big", "no value"),
        ("Manufacturer and volume: ARLA , 2 bottles", "unknown unit"),
    ],
)
def test_parse_package_size_rejects(text, reason):
    with pytest.raises(EntityValueError) as error:
        parse_package_size(text)
    assert error.value.reason == reason


def _fake_grocery(root: Path) -> Path:
    """A two-class Packages tree plus a fruit class, with one unparseable label."""
    (root / "classes.csv").write_text(
        "Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int),"
        "Iconic Image Path (str),Product Description Path (str)\n"
        "Banana,0,Banana,0,/x.jpg,/iconic/Fruit/Banana/Banana_Description.txt\n"
        "Milk-A,1,Milk,1,/x.jpg,/iconic/Packages/Milk/Milk-A/Milk-A_Description.txt\n"
        "Milk-B,2,Milk,1,/x.jpg,/iconic/Packages/Milk/Milk-B/Milk-B_Description.txt\n"
    )
    for name, size in (("Milk-A", "1l"), ("Milk-B", "one litre")):
        folder = root / "iconic" / "Packages" / "Milk" / name
        folder.mkdir(parents=True)
        (folder / f"{name}_Information.txt").write_text(f"Manufacturer and volume: ARLA , {size}\n")
    (root / "train.txt").write_text(
        "train/Fruit/Banana/Banana_001.jpg, 0, 0\ntrain/Packages/Milk/Milk-A/Milk-A_001.jpg, 1, 1\n"
        "train/Packages/Milk/Milk-B/Milk-B_001.jpg, 2, 1\ntrain/Packages/Milk/Milk-A/Milk-A_002.jpg, 1, 1\n"
    )
    return root


def test_package_rows_on_a_hand_made_tree(tmp_path):
    root = _fake_grocery(tmp_path)
    report = EntityValueReport()
    rows = grocery_package_rows(root, "train", report=report)
    assert [(r["index"], r["class_name"], r["entity_value"]) for r in rows] == [
        (1, "Milk-A", "1.0 litre"),
        (3, "Milk-A", "1.0 litre"),
    ]
    assert rows[0]["image_link"] == str(root / "train/Packages/Milk/Milk-A/Milk-A_001.jpg")
    assert rows[0]["group_id"] == "Milk" and rows[0]["entity_name"] == "item_volume"
    assert report.counts == {"no value": 1} and report.examples["no value"] == ["one litre"]
    with pytest.raises(ValueError, match="split must be one of"):
        grocery_package_rows(root, "dev")


@pytest.mark.skipif(not GROCERY.is_dir(), reason="the Grocery Store Dataset is not in ../shared/data/grocery")
def test_real_grocery_packages(tmp_path):
    report = EntityValueReport()
    labels = grocery_package_labels(GROCERY, report=report)
    assert len(labels) == 31 and report.skipped == 0
    assert {value for _, value in labels.values()} == {
        "1.0 litre",
        "2.0 litre",
        "3.0 decilitre",
        "1.0 kilogram",
        "750.0 gram",
    }
    sizes = {split: len(grocery_package_rows(GROCERY, split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 864, "val": 100, "test": 781}
    val = grocery_package_rows(GROCERY, "val")
    assert all(check_prediction(r["entity_value"], r["entity_name"]) is None for r in val)
    dataset = challenge_dataset(val[:20], tmp_path)
    assert all(dataset["image_ok"]) and dataset[0]["image"].mode == "RGB"
    assert Counter(dataset["entity_name"]) == Counter(r["entity_name"] for r in val[:20])


def test_grocery_information_parsing():
    text = (
        "Title: Filmjölk 3%\nManufacturer and volume: ARLA KO , 3dl\nNutrition values per 100 gram:\n"
        "   energi ca 250 kilojoule\n   energi ca 60 kilokalori\n   energi ca 61 kilokalori\n"
    )
    assert parse_grocery_information(text) == {"package_size": 300.0, "energy_kcal": 60.0}
    assert parse_grocery_information("Country and volume: Spain, ca 1.05kg\n") == {
        "package_size": 1050.0, "energy_kcal": None,
    }
    assert parse_grocery_information("Country: Brazil\n") == {"package_size": None, "energy_kcal": None}
