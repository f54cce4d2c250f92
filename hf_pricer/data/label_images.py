"""Rendered product labels with widely sampled values, for training models that *read* entity values.

The catalog (:mod:`hf_pricer.data.catalog`) prints a handful of quantities per unit ("500 ml", "2.5 kg"),
so a model could score well on it by recognising a few dozen label images. :func:`generate_label_images`
draws the same kind of product images (the catalog's scenes, drawn by :mod:`hf_pricer.data.rendering`) but
prints values drawn digit by digit (1 to 4 integer digits or a leading `0`, up to 2 decimals, at most 5
digits: "0.25", "3407", "18.6") with any of the challenge's units of the row's entity, spelled as on
packaging ("fl oz", "cu in", "kW"). A share of the images (`empty_fraction`) shows an empty label, whose
answer is `""`.

Held-out combinations
---------------------
Every `(printed value, unit)` pair belongs to exactly one split, by a stable hash of its text: 20 % of the
pairs are `"test"` pairs and never appear in a `"train"` split, whatever the seed or size. A model that
scores well on the test split has read values it never saw with that unit.

Determinism
-----------
Row `i` of split `s` uses `numpy.random.default_rng([seed, SPLIT_IDS[s], i])` (and the catalog's scene of
row `i`), so rows do not depend on `n`, and the same arguments give byte-identical PNGs (same Pillow build).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from .catalog import sample_row
from .catalog_tables import LABEL_PREFIXES
from .entities import ENTITY_NAMES, ENTITY_UNIT_MAP, format_prediction
from .rendering import ProductScene, png_bytes, render_product

__all__ = ["PRINTED_UNITS", "SPLIT_IDS", "generate_label_images", "label_split"]

#: How each unit is printed on a label.
PRINTED_UNITS: dict[str, str] = {
    "centimetre": "cm",
    "foot": "ft",
    "inch": "in",
    "metre": "m",
    "millimetre": "mm",
    "yard": "yd",
    "gram": "g",
    "kilogram": "kg",
    "microgram": "mcg",
    "milligram": "mg",
    "ounce": "oz",
    "pound": "lb",
    "ton": "ton",
    "kilovolt": "kV",
    "millivolt": "mV",
    "volt": "V",
    "kilowatt": "kW",
    "watt": "W",
    "centilitre": "cl",
    "cubic foot": "cu ft",
    "cubic inch": "cu in",
    "cup": "cups",
    "decilitre": "dl",
    "fluid ounce": "fl oz",
    "gallon": "gal",
    "imperial gallon": "imp gal",
    "litre": "L",
    "microlitre": "uL",
    "millilitre": "ml",
    "pint": "pt",
    "quart": "qt",
}
SPLIT_IDS = {"train": 0, "test": 1}
_TEST_SHARE = 5  # one pair in five is a test pair
_PREFIXES = {**LABEL_PREFIXES, "maximum_weight_recommendation": ("MAX LOAD", "MAX")}


def label_split(printed_value: str, unit: str) -> str:
    """The split (`"train"` or `"test"`) that owns the pair `(printed_value, unit)`."""
    digest = hashlib.sha1(f"{printed_value} {unit}".encode()).digest()
    return "test" if digest[0] % _TEST_SHARE == 0 else "train"


def _sample_value(rng: np.random.Generator) -> str:
    if rng.random() < 0.12:
        integer = "0"
        decimals = int(rng.choice([1, 2], p=[0.6, 0.4]))
    else:
        length = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.35, 0.22, 0.13]))
        integer = str(rng.integers(1, 10)) + "".join(str(d) for d in rng.integers(0, 10, size=length - 1))
        decimals = min(int(rng.choice([0, 1, 2], p=[0.5, 0.3, 0.2])), 5 - length)
    if not decimals:
        return integer
    # The last decimal is never 0: the printed number is also the shortest form of its value.
    fraction = "".join(str(d) for d in rng.integers(0, 10, size=decimals - 1)) + str(rng.integers(1, 10))
    return f"{integer}.{fraction}"


def _sample_label(seed: int, split: str, i: int, empty_fraction: float) -> tuple[dict, ProductScene]:
    row, scene = sample_row(seed, i)
    rng = np.random.default_rng([seed, SPLIT_IDS[split], i])
    entity_name = ENTITY_NAMES[int(rng.integers(len(ENTITY_NAMES)))]
    units = ENTITY_UNIT_MAP[entity_name]
    prefix = _PREFIXES[entity_name][int(rng.integers(len(_PREFIXES[entity_name])))]
    if rng.random() < empty_fraction:
        printed, entity_value = "", ""
    else:
        while True:  # rejection sampling of a pair that belongs to `split`
            value, unit = _sample_value(rng), units[int(rng.integers(len(units)))]
            if label_split(value, unit) == split:
                break
        printed = f"{value} {PRINTED_UNITS[unit]}"
        entity_value = format_prediction(float(value), unit)
    scene = dataclasses.replace(scene, prefix=prefix, label=printed or " ")
    label = {
        "id": f"label-{split}-{i:06d}",
        "entity_name": entity_name,
        "entity_value": entity_value,
        "printed": printed,
        "category": row["category"],
    }
    return label, scene


def generate_label_images(
    n: int = 10000, seed: int = 0, image_size: int = 128, split: str = "train", empty_fraction: float = 0.05
):
    """`n` rendered label images of one split as a `datasets.Dataset`.

    Columns: `id`, `image` (`datasets.Image`, RGB, `image_size` square), `entity_name`, `entity_value`
    (the canonical answer, `format_prediction`, or `""` for an empty label), `printed` (the text on the
    label) and `category` (the catalog scene). Labels are legible from 128 px up.
    """
    from datasets import Dataset, Features, Image, Value

    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {list(SPLIT_IDS)}, got {split!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if image_size < 64:
        raise ValueError(f"image_size must be >= 64 for legible labels, got {image_size}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1], got {empty_fraction}")
    columns = {name: [] for name in ("id", "image", "entity_name", "entity_value", "printed", "category")}
    for i in range(n):
        label, scene = _sample_label(seed, split, i, empty_fraction)
        image = render_product(scene, image_size, np.random.default_rng([seed, SPLIT_IDS[split], i, 1]))
        label["image"] = {"bytes": png_bytes(image), "path": None}
        for name, values in columns.items():
            values.append(label[name])
    features = Features({name: Image() if name == "image" else Value("string") for name in columns})
    return Dataset.from_dict(columns, features=features)
