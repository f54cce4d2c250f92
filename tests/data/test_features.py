"""Quantity, unit and listing features (`hf_pricer.data.features`) on strings as real listings write them
(titles, texts and `details` copied from Amazon appliance and toy listings)."""

import json
import math

import pytest

from hf_pricer.data.features import (
    QUANTITY_FEATURES,
    details_text,
    item_brand,
    item_details,
    quantity_features,
)

CU_FT = 28316.846592
INCH = 2.54


def features(title="", text="", details=None):
    return quantity_features({"title": title, "text": text, "details": json.dumps(details or {})})


def test_every_feature_is_returned_in_order():
    values = features("Oak frame")
    assert list(values) == list(QUANTITY_FEATURES)
    assert all(isinstance(value, float) for value in values.values())


def test_missing_values_are_nan_never_zero():
    values = features("Oak picture frame", "Hand finished.")
    for name in (
        "pack_count",
        "weight_g",
        "volume_ml",
        "power_w",
        "item_weight_g",
        "dimensions_volume_cm3",
        "sales_rank",
        "year_first_available",
    ):
        assert math.isnan(values[name]), name
    assert values["title_length"] == len("Oak picture frame")
    assert values["says_replacement"] == 0.0


@pytest.mark.parametrize(
    "title, count",
    [
        (
            "Premium Vials 38-28SWB-ZT 38 x 28 mm Clear Perforated Shrink Band - Bundle of 250 (Pack of 250)",
            250,
        ),
        ("Vornado MD1-0002 Replacement Humidifier Wick (2-Pack),White", 2),
        ("XWF Water Filter Parts XWF Replacement for GE XWF Water Filter, (2PACK)", 2),
        ("Technivorm Moccamaster 85090 Cup-One Paper Filters, 80 count, White", 80),
        ("Nispira 12-Pack Charcoal Water Filter Replacement Compatible with Keurig 2.0 Coffee Maker", 12),
    ],
)
def test_pack_counts_in_titles(title, count):
    values = features(title)
    assert values["pack_count"] == count and values["pack_count_title"] == count


def test_pack_count_from_details_when_the_text_has_none():
    assert features("Coffee filter holder", details={"Item Package Quantity": "3"})["pack_count"] == 3


def test_units_are_normalised_to_base_units():
    values = features(
        "EdgeStar 20 Inch Wide 4.3 Cu. Ft. Medical Refrigerator with Temperature Alarm and Safety Lock"
    )
    assert values["volume_ml"] == pytest.approx(4.3 * CU_FT)
    assert values["length_cm_title"] == pytest.approx(20 * INCH)

    values = features("W10194422 Replacement Light Bulb 40 Watt Compatible With Whirlpool Refrigerators")
    assert values["power_w"] == 40  # and the part number W10194422 is no wattage
    assert values["says_replacement"] == values["says_compatible"] == 1.0

    values = features(
        "TUAIC Refrigerator Door Light Switch", "Rated Voltage AC, Rated Current 2.5A 125V, Work Temperature"
    )
    assert values["current_a"] == 2.5 and values["voltage_v"] == 125
    assert math.isnan(values["voltage_v_title"])

    assert features("Dampp Chaser Piano Humidifier Pad Treatment 16 Oz Bottle")["weight_g"] == pytest.approx(
        453.59, 0.01
    )
    assert features("Milk jug, 2 fl. oz")["volume_ml"] == pytest.approx(59.147, 0.01)
    assert features("Window unit, 5000 BTU")["cooling_btu"] == 5000


def test_decimal_commas_and_thousands_separators():
    assert features("Water bottle 1,5 l")["volume_ml"] == pytest.approx(1500)
    assert features("Power bank 10,000 mAh")["battery_mah"] == 10000
    assert features("Ceramic heater 1,500W")["power_w"] == 1500


def test_details_weight_dimensions_rank_and_date():
    details = {
        "Item Weight": "1.46 pounds",
        "Package Dimensions": "6.14 x 6.06 x 4.02 inches",
        "Number of Pieces": "1",
        "Best Sellers Rank": {"Appliances": 2346, "Refrigerators": 542},
        "Date First Available": "January 15, 2022",
        "Brand Name": "Setpower",
    }
    values = features("Coffee Filter Holder - Coffee Filter Storage Container w Lid, Black", details=details)
    assert values["item_weight_g"] == pytest.approx(1.46 * 453.59237)
    assert values["dimensions_volume_cm3"] == pytest.approx(6.14 * 6.06 * 4.02 * INCH**3)
    assert values["dimensions_longest_cm"] == pytest.approx(6.14 * INCH)
    assert values["sales_rank"] == pytest.approx(math.log(2346))
    assert values["sales_rank_best"] == pytest.approx(math.log(542))
    assert values["year_first_available"] == 2022
    assert values["details_count"] == 6
    assert values["weight_g_per_item"] == pytest.approx(1.46 * 453.59237)


def test_squashed_attributes_of_toy_listings():
    text = (
        "Officially licensed collegiate product | "
        "ProductDimensions:10.3x3.4x0.8inches|ItemWeight:35.6ounces | "
        "DateFirstAvailable:October15,2014"
    )
    values = features("Utah Playing Cards", text)
    assert values["item_weight_g"] == pytest.approx(35.6 * 28.349523125)
    assert values["dimensions_volume_cm3"] == pytest.approx(10.3 * 3.4 * 0.8 * INCH**3)
    assert values["year_first_available"] == 2014


def test_per_item_weight_divides_by_the_pack():
    values = features("Burner liners, 8 Pack", details={"Item Weight": "16 ounces"})
    assert values["pack_count"] == 8
    assert values["weight_g_per_item"] == pytest.approx(16 * 28.349523125 / 8)


def test_details_brand_and_malformed_details():
    assert item_brand({"details": json.dumps({"Manufacturer": "GE  Appliances", "Brand": "GE"})}) == "ge"
    assert item_brand({"details": json.dumps({"Brand Name": " Setpower "})}) == "setpower"
    assert item_brand({"details": "not json"}) == "" and item_details({"details": "not json"}) == {}
    assert item_details({"details": {"Color": "black"}}) == {"Color": "black"}
    assert details_text({"Color": "black", "Best Sellers Rank": {"Appliances": 3}}) == "Color: black"
    assert features("Oak frame", details=None)["details_count"] == 0
