"""Quantity, unit and listing features of an item, parsed from its `title`, `text` and `details`.

Prices of real listings follow what is sold: how many (`"Pack of 6"`, `"12 Count"`,
`Item Package Quantity: 2`), how much (`"16 fl oz"`, `"2.5 lbs"`, `"4.5 cu. ft."`), how strong (`"1500W"`,
`"125V"`, `"2.5A"`, `"5000 BTU"`) and how big (`"9.53 x 3.43 x 1.18 inches"`). :func:`quantity_features` reads
these from free text and from the `details` attributes into numbers in base units (grams, millilitres,
centimetres, watts, volts, amperes, mAh, BTU, GB), plus per-item values (a pack's weight divided by its
count), the listing's sales rank and first year, and a few text statistics. A value the item does not state is
NaN: models must treat it as missing, never as 0.

Values with a unit are read with :func:`hf_pricer.data.entities.parse_entity_value` (the same aliases, plurals
and decimal commas as the challenge labels); amperes, mAh, BTU and storage sizes are not entity units and have
their own table here. Every feature depends on the item alone, so computing it leaks no label.

>>> quantity_features({"title": "Filter, Pack of 6", "text": "Weighs 2.5 lbs", "details": "{}"})["pack_count"]
6.0
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .entities import UNIT_ALIASES, EntityValueError, parse_entity_value

__all__ = [
    "BRAND_KEYS",
    "QUANTITY_FEATURES",
    "details_text",
    "item_brand",
    "item_details",
    "quantity_features",
]

# Canonical entity unit → factor to the base unit of its kind; the kind names the feature.
_ENTITY_UNIT_FACTORS = {
    "weight_g": {
        "gram": 1.0,
        "kilogram": 1000.0,
        "milligram": 1e-3,
        "microgram": 1e-6,
        "ounce": 28.349523125,
        "pound": 453.59237,
        "ton": 907184.74,
    },
    "volume_ml": {
        "millilitre": 1.0,
        "centilitre": 10.0,
        "decilitre": 100.0,
        "litre": 1000.0,
        "microlitre": 1e-3,
        "fluid ounce": 29.5735295625,
        "cup": 236.5882365,
        "pint": 473.176473,
        "quart": 946.352946,
        "gallon": 3785.411784,
        "imperial gallon": 4546.09,
        "cubic foot": 28316.846592,
        "cubic inch": 16.387064,
    },
    "length_cm": {
        "centimetre": 1.0,
        "millimetre": 0.1,
        "metre": 100.0,
        "inch": 2.54,
        "foot": 30.48,
        "yard": 91.44,
    },
    "voltage_v": {"volt": 1.0, "kilovolt": 1000.0, "millivolt": 1e-3},
    "power_w": {"watt": 1.0, "kilowatt": 1000.0},
}
# Units of price-relevant quantities that are not challenge entity units: spelling (lower case) → factor.
_OTHER_UNIT_FACTORS = {
    "current_a": {"a": 1.0, "amp": 1.0, "amps": 1.0, "ampere": 1.0, "amperes": 1.0},
    "battery_mah": {"mah": 1.0},
    "cooling_btu": {"btu": 1.0, "btus": 1.0},
    "storage_gb": {"gb": 1.0, "tb": 1000.0},
}
_KINDS = (*_ENTITY_UNIT_FACTORS, *_OTHER_UNIT_FACTORS)

_NUMBER = r"(\d[\d,]*(?:\.\d+)?|\.\d+)"


def _unit_pattern(spellings) -> re.Pattern:
    # Longest spelling first, so "fl oz" wins over "oz" and "mah" over "ma"; a unit must end the word.
    alternatives = "|".join(
        re.escape(s).replace(r"\ ", r"\.?\s*") for s in sorted(spellings, key=len, reverse=True)
    )
    return re.compile(rf"(?<![\w.]){_NUMBER}\s*-?\s*({alternatives})\.?(?![a-z0-9])", re.IGNORECASE)


_ENTITY_SPELLINGS = {
    spelling
    for unit, aliases in UNIT_ALIASES.items()
    if any(unit in factors for factors in _ENTITY_UNIT_FACTORS.values())
    for spelling in (unit, f"{unit}s", *aliases)
    if spelling not in ("'", "''")  # a bare apostrophe is more often a quote than feet
}
_ENTITY_VALUE = _unit_pattern(_ENTITY_SPELLINGS)
_OTHER_VALUES = {kind: _unit_pattern(factors) for kind, factors in _OTHER_UNIT_FACTORS.items()}
_KIND_OF_UNIT = {unit: kind for kind, factors in _ENTITY_UNIT_FACTORS.items() for unit in factors}

_PACK_PATTERNS = (
    re.compile(r"\b(?:pack|set|case|box|bag|lot|bundle)\s+of\s+(\d+)\b", re.IGNORECASE),
    re.compile(
        r"\b(\d+)\s*-?\s*"
        r"(?:pack|pk|packs|count|ct|pcs|pieces|piece|pc|sets|rolls|bags|pods|filters|sheets|pairs)\b",
        re.IGNORECASE,
    ),
)
_DIMENSIONS = re.compile(
    rf"{_NUMBER}\s*(?:\"|in|inch|inches|cm|mm)?\s*[x×*]\s*{_NUMBER}\s*(?:\"|in|inch|inches|cm|mm)?\s*[x×*]\s*"
    rf"{_NUMBER}\s*(inches|inch|in|cm|mm|\")?",
    re.IGNORECASE,
)
_DIMENSION_CM = {"cm": 1.0, "mm": 0.1}  # anything else (inches, or no unit as Amazon writes it) is inches
_RANK_IN_TEXT = re.compile(r"Best\s*Sellers\s*Rank[:\s]*#?([\d,]+)", re.IGNORECASE)
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
_DATE_IN_TEXT = re.compile(r"Date\s*First\s*Available[:\s]*([A-Za-z]+\s*\d{1,2},?\s*\d{4})", re.IGNORECASE)
_WEIGHT_IN_TEXT = re.compile(r"(?:Item|Shipping|Package)\s*Weight[:\s]*([\d.,]+\s*[A-Za-z]+)", re.IGNORECASE)

#: details keys of the count of items sold together, the weight, the dimensions and the brand (first wins)
COUNT_KEYS = (
    "Item Package Quantity",
    "Number of Items",
    "Unit Count",
    "Number of Pieces",
    "Number Of Pieces",
)
WEIGHT_KEYS = ("Item Weight", "Package Weight")
DIMENSION_KEYS = ("Product Dimensions", "Item Dimensions LxWxH", "Item Dimensions", "Package Dimensions")
BRAND_KEYS = ("Brand Name", "Brand", "Manufacturer")
# Words that shift a listing's price class whatever its product (a spare part vs the appliance, a kit).
_LISTING_WORDS = ("replacement", "compatible", "genuine", "oem", "kit", "set", "commercial", "professional")

#: Feature name → (description, scale). "log" features are non-negative amounts a model should see as
#: `log1p(value)`; "linear" ones are used as they are. NaN means the item does not state the value.
QUANTITY_FEATURES: dict[str, tuple[str, str]] = {
    "pack_count": ("items sold together (pack of N, N count, details' package quantity)", "log"),
    "pack_count_title": ("items sold together, stated in the title", "log"),
    **{
        kind: (f"largest {kind.split('_')[0]} stated anywhere, in {kind.split('_')[1]}", "log")
        for kind in _KINDS
    },
    **{f"{kind}_title": (f"largest {kind.split('_')[0]} stated in the title", "log") for kind in _KINDS},
    "item_weight_g": ("the listing's item weight (details, or 'Item Weight:' in the text), in g", "log"),
    "weight_g_per_item": ("item weight divided by the pack count", "log"),
    "volume_ml_per_item": ("largest volume divided by the pack count", "log"),
    "dimensions_volume_cm3": ("product (or package) dimensions multiplied, in cm³", "log"),
    "dimensions_longest_cm": ("longest product (or package) dimension, in cm", "log"),
    "sales_rank": ("log of the Best Sellers Rank in its top category", "linear"),
    "sales_rank_best": ("log of the best Best Sellers Rank over its categories", "linear"),
    "year_first_available": ("year the listing first appeared", "linear"),
    "unit_mentions": ("number of value-with-unit mentions", "log"),
    "details_count": ("number of details attributes", "log"),
    "title_length": ("characters in the title", "log"),
    "text_length": ("characters in the text", "log"),
    "title_digits": ("digits in the title", "log"),
    **{
        f"says_{word}": (f"1 if the title or text says {word!r}, else 0", "linear") for word in _LISTING_WORDS
    },
}


def item_details(item: Mapping[str, Any]) -> dict:
    """The item's `details` as a dict: a JSON object string (the item schema's form) or a mapping; `{}` when
    it is absent or not a JSON object (details are optional context, so a malformed string is treated as
    none)."""
    details = item.get("details")
    if isinstance(details, Mapping):
        return dict(details)
    if not isinstance(details, str) or not details.strip():
        return {}
    try:
        parsed = json.loads(details)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def details_text(details: Mapping[str, Any]) -> str:
    """`key: value` lines of the attributes with a text value (nested ones, such as sales ranks, left out)."""
    return "\n".join(
        f"{key}: {value}" for key, value in details.items() if not isinstance(value, (dict, list))
    )


def item_brand(item: Mapping[str, Any], details: Mapping[str, Any] | None = None) -> str:
    """The brand from `details` (`Brand Name`, `Brand`, then `Manufacturer`), lower case; `""` when none."""
    details = item_details(item) if details is None else details
    for key in BRAND_KEYS:
        value = details.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split()).lower()
    return ""


def _number(text: str) -> float:
    """A number as listings write it: `"1,299"` is 1299, `"2,5"` is 2.5; NaN when unreadable."""
    if "," in text:
        text = (
            text.replace(",", "")
            if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text)
            else text.replace(",", ".")
        )
    try:
        return float(text)
    except ValueError:
        return math.nan


def _unit_values(text: str) -> dict[str, list[float]]:
    """Every value-with-unit in `text`, in base units, by kind."""
    values: dict[str, list[float]] = {kind: [] for kind in _KINDS}
    for match in _ENTITY_VALUE.finditer(text):
        try:
            parsed = parse_entity_value(f"{match[1]} {match[2]}")
        except EntityValueError:
            continue
        kind = _KIND_OF_UNIT.get(parsed.unit)
        if kind is not None and 0 < parsed.value < 1e7:
            values[kind].append(parsed.value * _ENTITY_UNIT_FACTORS[kind][parsed.unit])
    for kind, pattern in _OTHER_VALUES.items():
        for match in pattern.finditer(text):
            value = _number(match[1])
            unit = re.sub(r"[\s.]", "", match[2].lower())
            if 0 < value < 1e7:
                values[kind].append(value * _OTHER_UNIT_FACTORS[kind][unit])
    return values


def _pack_count(text: str) -> float:
    counts = [
        float(match[1])
        for pattern in _PACK_PATTERNS
        for match in pattern.finditer(text)
        if 1 <= int(match[1]) <= 1000
    ]
    return max(counts, default=math.nan)


def _dimensions(text: str) -> tuple[float, float]:
    """`(volume in cm³, longest side in cm)` of the first `a x b x c unit` in `text`; NaNs when there is
    none."""
    match = _DIMENSIONS.search(text)
    if match is None:
        return math.nan, math.nan
    factor = _DIMENSION_CM.get((match[4] or "").lower(), 2.54)
    sides = [_number(match[i]) * factor for i in (1, 2, 3)]
    if not all(side > 0 for side in sides):  # also false for NaN
        return math.nan, math.nan
    return sides[0] * sides[1] * sides[2], max(sides)


def _details_count(details: Mapping[str, Any]) -> float:
    counts = [_number(re.sub(r"[^\d.,]", "", str(details[key]))) for key in COUNT_KEYS if key in details]
    return max((count for count in counts if count > 0), default=math.nan)


def _sales_ranks(details: Mapping[str, Any], text: str) -> tuple[float, float]:
    ranks = details.get("Best Sellers Rank")
    if isinstance(ranks, Mapping):
        values = [float(v) for v in ranks.values() if isinstance(v, (int, float)) and v > 0]
    else:
        values = [_number(match[1]) for match in _RANK_IN_TEXT.finditer(text)]
        values = [v for v in values if v > 0]
    if not values:
        return math.nan, math.nan
    return math.log(values[0]), math.log(min(values))


def _first_year(details: Mapping[str, Any], text: str) -> float:
    date = details.get("Date First Available")
    if not isinstance(date, str):
        match = _DATE_IN_TEXT.search(text)
        date = match[1] if match else ""
    year = _YEAR.search(date)
    return float(year[1]) if year else math.nan


def _item_weight(details: Mapping[str, Any], text: str) -> float:
    candidates = [str(details[key]) for key in WEIGHT_KEYS if key in details]
    candidates += [match[1] for match in _WEIGHT_IN_TEXT.finditer(text)]
    for candidate in candidates:
        weights = _unit_values(candidate)["weight_g"]
        if weights:
            return weights[0]
    return math.nan


def _per_item(amount: float, count: float) -> float:
    return amount / count if count > 0 else amount  # NaN count: the amount is already one item's


def quantity_features(item: Mapping[str, Any]) -> dict[str, float]:
    """The features of :data:`QUANTITY_FEATURES` of one item (a dict with `title`, `text`, optional
    `details`), in base units and in that order; NaN where the item does not state a value."""
    title = str(item.get("title") or "")
    text = str(item.get("text") or "")
    details = item_details(item)
    everything = "\n".join((title, text, details_text(details)))

    features: dict[str, float] = {}
    features["pack_count"] = max((_pack_count(everything), _details_count(details)), key=_nan_low)
    features["pack_count_title"] = _pack_count(title)
    all_values, title_values = _unit_values(everything), _unit_values(title)
    for kind in _KINDS:
        features[kind] = max(all_values[kind], default=math.nan)
    for kind in _KINDS:
        features[f"{kind}_title"] = max(title_values[kind], default=math.nan)
    features["item_weight_g"] = _item_weight(details, text)
    count = features["pack_count"]
    features["weight_g_per_item"] = _per_item(
        max((features["item_weight_g"], features["weight_g"]), key=_nan_low), count
    )
    features["volume_ml_per_item"] = _per_item(features["volume_ml"], count)
    dimensions = next((str(details[key]) for key in DIMENSION_KEYS if key in details), everything)
    features["dimensions_volume_cm3"], features["dimensions_longest_cm"] = _dimensions(dimensions)
    features["sales_rank"], features["sales_rank_best"] = _sales_ranks(details, text)
    features["year_first_available"] = _first_year(details, text)
    features["unit_mentions"] = float(sum(len(values) for values in all_values.values()))
    features["details_count"] = float(len(details))
    features["title_length"] = float(len(title))
    features["text_length"] = float(len(text))
    features["title_digits"] = float(sum(character.isdigit() for character in title))
    words = set(re.findall(r"[a-z]+", f"{title}\n{text}".lower()))
    for word in _LISTING_WORDS:
        features[f"says_{word}"] = float(word in words)
    return {name: features[name] for name in QUANTITY_FEATURES}


def _nan_low(value: float) -> float:
    """Sort key under which NaN loses to every number."""
    return -math.inf if math.isnan(value) else value
