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

Photographed labels
-------------------
:func:`generate_photographed_labels` prints a whole package face instead (a brand, a product name and an info
panel of several lines) and photographs it (:func:`hf_pricer.data.rendering.photograph`): warped in perspective
onto a real photograph (`backgrounds`, e.g. the Grocery Store Dataset's shelf photos) or a catalog scene, lit
unevenly, blurred, noised, JPEG-compressed at quality 30–70, 224–400 pixels square. Six archetypes (food, drink,
power adapter, battery, appliance, furniture) print the answer among distractors of the same unit family
(serving size next to net weight, input next to output voltage, standby next to rated power, maximum load next
to weight...), in three layouts (cue and value on one line, in a table, or stacked), so picking the value needs
the entity and the label's wording. A label answers one to five entities; a row asks one (`rows="all"`: every
one), or one the label does not show (answer `""`).

- Held out as before: every printed (value, unit) pair with a challenge unit belongs to the row's split, distractors
  included, so test answers never appear in training.
- Held out wording: some cue spellings ("NET MASS", "Overall width"), brands, products, nutrients and one layout
  (a dotted leader, "Net wt ..... 500 g") are printed only in the test split, so a reader has to generalise
  beyond the generator's training vocabulary.
- Legibility floor: no text is printed smaller than `min_text_px` output pixels (11 by default: an OCR engine
  finds 0.97 of the answers then, but under 9 pixels only about half of them); a label that cannot hold all its
  lines at that size leaves out distractor lines, never answers.
- `layout`: the printed pieces, `[{"text", "quad"}]` with quads on 0–1000 of the photograph, for simulated OCR
  (:func:`hf_pricer.data.ocr.simulate_ocr`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

from .catalog import sample_row
from .catalog_tables import LABEL_PREFIXES
from .entities import ENTITY_NAMES, ENTITY_UNIT_MAP, format_prediction
from .rendering import ProductScene, font, jpeg_bytes, photograph, png_bytes, render_product, warp_points

logger = logging.getLogger(__name__)

__all__ = [
    "MIN_TEXT_PX",
    "PHOTO_ARCHETYPES",
    "PRINTED_UNITS",
    "SPLIT_IDS",
    "generate_label_images",
    "generate_photographed_labels",
    "label_split",
    "load_attribute_values",
]

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


def _check_arguments(n: int, split: str, empty_fraction: float) -> None:
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {list(SPLIT_IDS)}, got {split!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1], got {empty_fraction}")


def _features(columns):
    from datasets import Features, Image, List, Value

    layout = List({"text": Value("string"), "quad": List(List(Value("float32")))})
    kinds = {"image": Image(), "layout": layout}
    return Features({name: kinds.get(name, Value("string")) for name in columns})


def generate_label_images(
    n: int = 10000,
    seed: int = 0,
    image_size: int = 128,
    split: str = "train",
    empty_fraction: float = 0.05,
    with_layout: bool = False,
):
    """`n` rendered label images of one split as a `datasets.Dataset`.

    Columns: `id`, `image` (`datasets.Image`, RGB, `image_size` square), `entity_name`, `entity_value`
    (the canonical answer, `format_prediction`, or `""` for an empty label), `printed` (the text on the
    label) and `category` (the catalog scene); with `with_layout`, `layout` (the printed lines with their
    quads on 0–1000, see the module docstring). Labels are legible from 128 px up.
    """
    from datasets import Dataset

    _check_arguments(n, split, empty_fraction)
    if image_size < 64:
        raise ValueError(f"image_size must be >= 64 for legible labels, got {image_size}")
    names = ["id", "image", "entity_name", "entity_value", "printed", "category"] + (["layout"] if with_layout else [])
    columns = {name: [] for name in names}
    for i in range(n):
        label, scene = _sample_label(seed, split, i, empty_fraction)
        rng = np.random.default_rng([seed, SPLIT_IDS[split], i, 1])
        image, label["layout"] = render_product(scene, image_size, rng, return_layout=True)
        label["image"] = {"bytes": png_bytes(image), "path": None}
        for name, values in columns.items():
            values.append(label[name])
    return Dataset.from_dict(columns, features=_features(names))


# ------------------------------------------------------------------------------------------------------------
# Photographed labels
# ------------------------------------------------------------------------------------------------------------

#: The smallest printed text of a photographed label, in output pixels (the legibility floor).
MIN_TEXT_PX = 11.0
_PHOTO_STREAM = 77  # keeps a photographed label's random stream apart from the rendered label of the same index


def _wording(*train: str, test: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Spellings of one cue: `train` in both splits, `test` only in the test split."""
    return {"train": train, "test": train + test}


_CUES = {
    "net_weight": _wording("NET WT", "NET WEIGHT", "Net wt.", "NETTO", "e", "", test=("NET MASS", "Net qty", "Nett Wt")),
    "serving": _wording("Serving size", "Per serving", "Portion", test=("Per portion", "Serving")),
    "per100": _wording("Nutrition per", "Per", "Typical values per", test=("Values per", "Avg. per")),
    "nutrient": _wording("Protein", "Fat", "Sugars", "Carbohydrate", "Fibre", "Salt", test=("Saturates", "Sodium")),
    "net_volume": _wording("NET VOL", "CONTENTS", "Net contents", "e", "", test=("NET CONTENT", "VOLUME", "Vol.")),
    "drink_serving": _wording("Serving", "Per serving", "Per glass", test=("Per cup", "Portion")),
    "output": _wording("OUTPUT", "Output", "OUT", "DC OUT", test=("DC OUTPUT", "Vout")),
    "power": _wording("POWER", "Power", "Rated power", "MAX", test=("Max power", "WATTAGE")),
    "standby": _wording("Standby", "No-load", test=("Idle", "Stand-by")),
    "cell_voltage": _wording("", "Nominal", "VOLTAGE", test=("Nominal voltage", "RATED")),
    "cell_weight": _wording("Weight", "WT", test=("Mass", "Net wt")),
    "appliance_power": _wording("", "POWER", "Rated power", test=("Wattage", "Power consumption")),
    "appliance_voltage": _wording("", "RATED VOLTAGE", "Voltage", test=("Rated", "Supply")),
    "capacity": _wording("Capacity", "CAPACITY", "Tank", test=("Reservoir", "Volume")),
    "appliance_weight": _wording("Weight", "Net weight", "N.W.", test=("Mass", "NET WT")),
    "width": _wording("WIDTH", "W", "Width", test=("Wide", "Overall width")),
    "height": _wording("HEIGHT", "H", "Height", test=("Tall", "Overall height")),
    "depth": _wording("DEPTH", "D", "Depth", test=("Deep", "Overall depth")),
    "max_load": _wording("MAX LOAD", "MAX", "Max. load", test=("Load capacity", "Max weight")),
    "furniture_weight": _wording("Weight", "NET WT", "N.W.", test=("Mass", "Item weight")),
    "dimensions": _wording("", "Size", "Dimensions", "W x H x D", test=("Overall", "Dims")),
    "brand": _wording("ACME", "NORDA", "Vitalia", "KRONA", "Helio", "Bravo", "ZENTRO", "Alpina", "OMNI", "Luma",
                      "Sola", "TEKNA", test=("Fjord", "MARLO", "Quinta", "Verdi")),
    # inline: "NET WT 500 g"; table: cue left, value right (an OCR engine reads two boxes); stacked: a small cue
    # above the value; leader: "Net wt ..... 500 g"
    "layout": _wording("inline", "inline", "table", "stacked", test=("leader",)),
}
_PRODUCTS = {
    "food": _wording("Oat Flakes", "Pasta", "Granola", "Rice", "Crackers", "Coffee", "Muesli", "Lentils",
                     test=("Couscous", "Biscuits")),
    "drink": _wording("Orange Juice", "Lager", "Milk", "Sparkling Water", "Iced Tea", "Olive Oil",
                      test=("Lemonade", "Cider")),
    "adapter": _wording("AC Adapter", "Power Supply", "Charger", test=("Wall Charger",)),
    "battery": _wording("Li-ion Cell", "Battery Pack", "Rechargeable", test=("NiMH Cell",)),
    "appliance": _wording("Kettle", "Blender", "Coffee Maker", "Humidifier", test=("Toaster", "Juicer")),
    "furniture": _wording("Shelf", "Side Table", "Storage Box", "Stool", test=("Bench", "Cabinet")),
}
_WEIGHT_UNITS = ENTITY_UNIT_MAP["item_weight"]
_LENGTH_UNITS = ENTITY_UNIT_MAP["width"]
_FOOD_SERVING_UNITS = ("gram", "ounce")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


class _Label:
    """What one photographed label prints: its lines, and the split-dependent choices (wording, real values)."""

    def __init__(self, rng: np.random.Generator, split: str, attribute_values: dict | None):
        self.rng, self.split, self.attribute_values = rng, split, attribute_values or {}

    def cue(self, name: str) -> str:
        return _pick(self.rng, _CUES[name][self.split])

    def value(self, unit: str, sampler=None, strict: bool = True) -> str:
        """A printed value whose (value, unit) pair belongs to the split; distractors with a near-fixed value
        (`strict=False`, "per 100 ml") give up after 20 draws."""
        for _ in range(10**6 if strict else 20):
            value = sampler(self.rng) if sampler else _sample_value(self.rng)
            if label_split(value, unit) == self.split:
                return value
        return value

    def small(self, digits: tuple[int, int] = (1, 3)) -> str:
        """A distractor number: 1–3 integer digits, sometimes one decimal."""
        rng = self.rng
        length = int(rng.integers(digits[0], digits[1] + 1))
        integer = str(int(rng.integers(1, 10))) + "".join(str(int(d)) for d in rng.integers(0, 10, length - 1))
        return f"{integer}.{int(rng.integers(1, 10))}" if rng.random() < 0.3 else integer

    def printed_unit(self, unit: str) -> str:
        return PRINTED_UNITS[unit].upper() if self.rng.random() < 0.2 else PRINTED_UNITS[unit]

    def quantity(self, cue: str, units, entity: str | None = None, sampler=None, role: str | None = None) -> dict:
        """A quantity line `cue value unit`; `entity` is what it answers (None for a distractor). An answer may
        print a real attribute string (`attribute_values`) instead of a sampled one."""
        real = self.attribute_values.get(entity, {}).get(self.split) if entity else None
        if real and self.rng.random() < 0.5:
            value, unit, printed_unit = _pick(self.rng, [item for item in real if item[1] in units] or real)
        else:
            unit = _pick(self.rng, units)
            value = self.value(unit, sampler, strict=entity is not None)
            printed_unit = self.printed_unit(unit)
        value_text = f"{value}{'' if self.rng.random() < 0.25 else ' '}{printed_unit}"  # "500g" or "500 g"
        cue = f"{cue}{_pick(self.rng, ['', '', ':'])}" if cue else ""
        answers = [(entity, value, unit)] if entity else []
        return _line(cue, value_text, role or entity, answers)

    def bare(self, text: str, role: str) -> dict:
        return _line("", text, role, [])

    def lot(self) -> dict:
        digits = "".join(str(int(d)) for d in self.rng.integers(0, 10, int(self.rng.integers(4, 7))))
        return self.bare(_pick(self.rng, ["LOT ", "Lot: ", "BATCH ", "L"]) + digits, "lot")

    def date(self) -> dict:
        year, month = int(self.rng.integers(2019, 2031)), int(self.rng.integers(1, 13))
        options = [f"BEST BEFORE {month:02d}/{year}", f"EXP {month:02d} {year}", f"BB {month:02d}.{year}", f"MFD {year}",
                   f"{year}"]
        return self.bare(_pick(self.rng, options), "date")

    def ean(self) -> dict:
        digits = "".join(str(int(d)) for d in self.rng.integers(0, 10, 13))
        return self.bare(f"{digits[0]} {digits[1:7]} {digits[7:]}", "ean")

    def model_number(self) -> dict:
        letters = "".join(chr(65 + int(x)) for x in self.rng.integers(0, 26, 2))
        prefix = _pick(self.rng, ["MODEL ", "Model: ", "TYPE ", "REF "])
        return self.bare(f"{prefix}{letters}-{int(self.rng.integers(100, 9999))}", "model")

    def energy(self, low: int, high: int) -> dict:
        kilojoules = int(self.rng.integers(low, high))
        return self.bare(f"Energy {kilojoules} kJ / {round(kilojoules / 4.184)} kcal", "energy")

    def standby(self) -> dict:
        return self.quantity(self.cue("standby"), ("watt",), sampler=lambda r: f"0.{int(r.integers(1, 10))}",
                             role="standby")

    def dimensions(self) -> dict:
        """Compact dimensions, `45 x 30 x 20 cm` or `W45 x H30 x D20 cm`: three answers on one line."""
        unit = _pick(self.rng, _LENGTH_UNITS)
        values = [self.value(unit) for _ in range(3)]
        printed_unit = self.printed_unit(unit)
        if self.rng.random() < 0.5:
            text = " x ".join(values) + f" {printed_unit}"
        else:
            text = " x ".join(f"{letter}{value}" for letter, value in zip("WHD", values)) + f" {printed_unit}"
        answers = [(entity, value, unit) for entity, value in zip(("width", "height", "depth"), values)]
        return _line(self.cue("dimensions"), text, "dimensions", answers)


def _line(cue: str, value_text: str, role: str, answers: list) -> dict:
    return {"text": f"{cue} {value_text}".strip(), "cue": cue, "value_text": value_text, "role": role,
            "answers": answers}


def _food(label: _Label) -> list[dict]:
    lines = [
        label.quantity(label.cue("net_weight"), _WEIGHT_UNITS, "item_weight"),
        label.quantity(label.cue("serving"), _FOOD_SERVING_UNITS, sampler=lambda r: label.small(), role="serving"),
        label.quantity(label.cue("per100"), ("gram",), sampler=lambda r: _pick(r, ["100", "100", "50", "30"]),
                       role="per100"),
    ]
    nutrients = list(_CUES["nutrient"][label.split])
    for name in label.rng.choice(nutrients, size=int(label.rng.integers(1, 4)), replace=False):
        lines.append(label.quantity(str(name), ("gram",), sampler=lambda r: label.small(), role="nutrient"))
    lines.append(label.energy(100, 2500))
    if label.rng.random() < 0.5:
        lines.append(label.bare(f"Servings per container {int(label.rng.integers(2, 40))}", "count"))
    lines += [label.lot(), label.date()]
    if label.rng.random() < 0.5:
        lines.append(label.ean())
    return lines


def _drink(label: _Label) -> list[dict]:
    lines = [label.quantity(label.cue("net_volume"), ENTITY_UNIT_MAP["item_volume"], "item_volume")]
    if label.rng.random() < 0.6:
        lines.append(label.bare(f"{label.small((1, 2))}% vol", "alcohol"))
    lines.append(label.quantity(label.cue("drink_serving"), ("millilitre", "fluid ounce"),
                                sampler=lambda r: label.small(), role="serving"))
    lines.append(label.quantity(label.cue("per100"), ("millilitre",), sampler=lambda r: "100", role="per100"))
    lines.append(label.energy(20, 400))
    if label.rng.random() < 0.4:
        lines.append(label.quantity("Sugars", ("gram",), sampler=lambda r: label.small(), role="nutrient"))
    lines += [label.lot(), label.date()]
    if label.rng.random() < 0.5:
        lines.append(label.ean())
    return lines


def _adapter(label: _Label) -> list[dict]:
    rng = label.rng
    mains = _pick(rng, ["100-240", "110-240", "220-240", "230"])
    lines = [
        label.bare(f"INPUT {mains}V~ {_pick(rng, ['50/60Hz', '50Hz', '60Hz'])} {label.small((1, 1))}A", "input"),
        label.quantity(label.cue("output"), ENTITY_UNIT_MAP["voltage"], "voltage"),
        label.quantity(label.cue("power"), ENTITY_UNIT_MAP["wattage"], "wattage"),
    ]
    if rng.random() < 0.6:
        lines.append(label.standby())
    lines += [label.bare(f"{label.small((1, 1))} A", "current"), label.model_number(), label.date()]
    return lines


def _battery(label: _Label) -> list[dict]:
    return [
        label.quantity(label.cue("cell_voltage"), ("volt", "millivolt"), "voltage"),
        label.bare(f"{int(label.rng.integers(300, 9999))} mAh", "capacity"),
        label.bare(f"{label.small((1, 2))} Wh", "energy"),
        label.quantity(label.cue("cell_weight"), ("gram",), "item_weight", sampler=lambda r: label.small()),
        label.lot(),
        label.date(),
    ]


def _appliance(label: _Label) -> list[dict]:
    lines = [
        label.quantity(label.cue("appliance_power"), ENTITY_UNIT_MAP["wattage"], "wattage"),
        label.quantity(label.cue("appliance_voltage"), ("volt",), "voltage"),
        label.bare(f"{_pick(label.rng, ['50', '60', '50/60'])} Hz", "frequency"),
        label.quantity(label.cue("capacity"), ("litre", "millilitre", "cup", "quart"), "item_volume"),
        label.quantity(label.cue("appliance_weight"), ("kilogram", "pound"), "item_weight"),
        label.model_number(),
        label.date(),
    ]
    if label.rng.random() < 0.5:
        lines.append(label.standby())
    return lines


def _furniture(label: _Label) -> list[dict]:
    rng = label.rng
    if rng.random() < 0.4:
        lines = [label.dimensions()]
    else:
        lines = [label.quantity(label.cue(entity), _LENGTH_UNITS, entity) for entity in ("width", "height", "depth")]
    if rng.random() < 0.7:
        lines.append(label.quantity(label.cue("max_load"), _WEIGHT_UNITS, "maximum_weight_recommendation"))
    if rng.random() < 0.7:
        lines.append(label.quantity(label.cue("furniture_weight"), ("kilogram", "pound", "gram"), "item_weight"))
    lines += [label.model_number(), label.lot()]
    if rng.random() < 0.5:
        lines.append(label.ean())
    return lines


_ARCHETYPES = {
    "food": _food, "drink": _drink, "adapter": _adapter, "battery": _battery, "appliance": _appliance,
    "furniture": _furniture,
}
#: The kinds of package a photographed label comes from (the `category` column).
PHOTO_ARCHETYPES = tuple(_ARCHETYPES)


def _draw_face(rng: np.random.Generator, label: _Label, archetype: str, lines: list[dict], scale: float,
               min_font: float):
    """The package face: brand and product name, then an info panel with `lines`. Returns the face (RGB PIL
    image) and each line's printed pieces `[(text, (x0, y0, x1, y1))]` in face pixels; a line left out to keep
    the text at least `min_font` face pixels high has no pieces."""
    from PIL import Image, ImageDraw

    face_w = int(600 * scale)
    face_h = int(face_w * rng.uniform(0.75, 1.25))
    colour = tuple(int(c) for c in rng.integers(30, 230, 3))
    face = Image.new("RGB", (face_w, face_h), colour)
    draw = ImageDraw.Draw(face)
    ink_on_colour = (245, 245, 240) if sum(colour) < 380 else (20, 20, 25)
    y = int(0.04 * face_h)
    brand_font = font(int(face_w * rng.uniform(0.09, 0.13)))
    draw.text((int(0.06 * face_w), y), label.cue("brand"), font=brand_font, fill=ink_on_colour)
    y += int(brand_font.size * 1.15)
    product_font = font(int(face_w * rng.uniform(0.06, 0.08)))
    draw.text((int(0.06 * face_w), y), _pick(rng, _PRODUCTS[archetype][label.split]), font=product_font,
              fill=ink_on_colour)
    y += int(product_font.size * 1.4)

    x0, y0, x1, y1 = int(0.05 * face_w), y, int(0.95 * face_w), int(0.97 * face_h)
    panel = tuple(int(c) for c in rng.integers(225, 256, 3))
    draw.rounded_rectangle([x0, y0, x1, y1], radius=int(0.02 * face_w), fill=panel, outline=(60, 60, 60),
                           width=max(1, face_w // 200))
    room = y1 - y0 - int(0.04 * face_h)
    base = max(face_w * rng.uniform(0.055, 0.075), min_font / 0.8)
    emphasis = rng.random() < 0.5  # answer lines printed larger, on half of the labels only
    layout = label.cue("layout")
    column = 0.45 * (x1 - x0 - 0.06 * face_w)  # the width of a table's value column
    rows = []  # (line index, text, size factor, placement): "row" starts a row, "right" ends the previous one
    for index, line in enumerate(lines):
        factor = rng.uniform(1.2, 1.5) if (emphasis and line["answers"]) else 1.0
        value_box = draw.textbbox((0, 0), line["value_text"], font=font(max(6, int(round(base * factor)))))
        if line["cue"] and layout == "table" and value_box[2] - value_box[0] > column:
            rows += [(index, line["cue"], 0.8, "row"), (index, line["value_text"], factor, "row")]  # stacked
        elif line["cue"] and layout == "table":
            rows += [(index, line["cue"], 1.0, "row"), (index, line["value_text"], factor, "right")]
        elif line["cue"] and layout == "stacked":
            rows += [(index, line["cue"], 0.8, "row"), (index, line["value_text"], factor, "row")]
        elif line["cue"] and layout == "leader":
            rows.append((index, f"{line['cue']} {'.' * int(rng.integers(3, 9))} {line['value_text']}", factor, "row"))
        else:
            rows.append((index, line["text"], factor, "row"))

    def fit(rows) -> float:
        return min(1.0, room / sum(base * factor * 1.3 for _, _, factor, where in rows if where == "row"))

    droppable = [index for index, line in enumerate(lines) if not line["answers"]]
    rng.shuffle(droppable)
    while droppable and base * 0.8 * fit(rows) < min_font:
        gone = droppable.pop()
        rows = [row for row in rows if row[0] != gone]
    shrink = fit(rows)
    line_y = y0 + int(0.02 * face_h)
    centred = layout != "table" and rng.random() < 0.4
    ink = (20, 20, 25) if rng.random() < 0.8 else tuple(int(c) for c in rng.integers(0, 90, 3))
    pieces = [[] for _ in lines]
    row_height = 0.0
    for index, text, factor, where in rows:
        size = base * factor * shrink
        text_font = font(max(6, int(round(size))))
        bbox = draw.textbbox((0, 0), text, font=text_font)
        width = bbox[2] - bbox[0]
        available = (x1 - x0 - 0.06 * face_w) * (0.45 if where == "right" else 1.0)
        if width > available:  # too wide: this piece alone is printed smaller
            text_font = font(max(6, int(text_font.size * available / width)))
            bbox = draw.textbbox((0, 0), text, font=text_font)
            width = bbox[2] - bbox[0]
        if where == "right":
            top, left = line_y - row_height, x1 - 0.03 * face_w - width
        else:
            top = line_y
            left = (x0 + x1 - width) / 2 if centred else x0 + 0.03 * face_w
            row_height = size * 1.3
            line_y += row_height
        draw.text((left - bbox[0], top - bbox[1]), text, font=text_font, fill=ink)
        pieces[index].append((text, (left, top, left + width, top + bbox[3] - bbox[1])))
    return face, pieces


def _background_files(folder: str, split: str) -> list[str]:
    """Background photos for `split`: with the Grocery Store Dataset's split files (`train.txt`, `val.txt`,
    `test.txt`), its train and validation photos for the train split and its test photos for the test split;
    otherwise every image file under `folder`."""
    split_files = ["train.txt", "val.txt"] if split == "train" else ["test.txt"]
    if all(os.path.isfile(os.path.join(folder, name)) for name in ("train.txt", "test.txt")):
        paths = []
        for name in split_files:
            if os.path.isfile(os.path.join(folder, name)):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    paths += [os.path.join(folder, line.split(",")[0].strip()) for line in handle if line.strip()]
    else:
        paths = sorted(
            os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
            if name.lower().endswith((".jpg", ".jpeg", ".png", ".webp"))
        )
    if not paths:
        raise ValueError(f"backgrounds: no image files found in {folder!r}")
    return paths


def _background(rng: np.random.Generator, size: int, files: list[str] | None, seed: int, index: int):
    """A square background: a random crop of a photo from `files`, or a catalog scene (its sticker left blank,
    so that no other quantity is printed)."""
    from PIL import Image

    from .images import load_image

    if files:
        path = _pick(rng, files)
        photo, reason = load_image(path)
        if photo is None:
            raise ValueError(f"backgrounds: {path!r} cannot be used: {reason}")
        side = int(min(photo.size) * rng.uniform(0.6, 1.0))
        left, top = int(rng.integers(0, photo.size[0] - side + 1)), int(rng.integers(0, photo.size[1] - side + 1))
        return photo.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    _, scene = sample_row(seed, index)
    return render_product(scene, size, rng, draw_text=False)


def load_attribute_values(items_file: str | os.PathLike) -> dict[str, dict[str, list[tuple[str, str, str]]]]:
    """Real attribute strings of an items file (jsonl with a `details` column of JSON attributes, such as the
    Amazon listings of `appliances_2000.jsonl`): entity → split → `[(printed number, unit, printed unit)]`.

    Read: `Item Weight` (item_weight: `"4.2 ounces"`), `Voltage` (voltage: `"115 Volts"`) and `Capacity` when it
    is a volume (item_volume: `"350 Milliliters"`). Each (number, unit) pair goes to the split that owns it
    (:func:`label_split`), so real values keep the held-out guarantee. Strings that do not parse are counted and
    logged, not used."""
    from .entities import EntityValueError, parse_entity_value

    fields = {"Item Weight": "item_weight", "Voltage": "voltage", "Capacity": "item_volume"}
    values = {entity: {"train": set(), "test": set()} for entity in fields.values()}
    unusable = 0
    with open(items_file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            details = json.loads(line).get("details") or {}
            if isinstance(details, str):
                try:
                    details = json.loads(details)
                except json.JSONDecodeError:
                    logger.warning("%s line %d: `details` is not JSON, skipped", items_file, number)
                    continue
            for field, entity in fields.items():
                text = details.get(field)
                number_text, _, printed_unit = str(text).strip().partition(" ")
                try:  # a plain number and a unit of the entity ("1,5 l", "1/2 cup", "6 Place Settings" are not)
                    parsed = parse_entity_value(text, entity, ranges="reject")
                except EntityValueError:
                    parsed = None
                if parsed is None or not number_text.replace(".", "", 1).isdigit() or len(number_text) > 7:
                    unusable += isinstance(text, str)
                    continue
                # The pair's split is that of the number's shortest form, as sampled values print it ("4.2", "3").
                shortest = np.format_float_positional(parsed.value, unique=True, trim="-")
                values[entity][label_split(shortest, parsed.unit)].add((number_text, parsed.unit, printed_unit))
    logger.info("%s: %d attribute strings read, %d unusable", items_file,
                sum(len(items) for by_split in values.values() for items in by_split.values()), unusable)
    return {entity: {split: sorted(items) for split, items in by_split.items()} for entity, by_split in values.items()}


def _photographed_label(seed: int, split: str, index: int, image_size: tuple[int, int], empty_fraction: float,
                        backgrounds: list[str] | None, attribute_values: dict | None, min_text_px: float):
    """Label `index` of `split`: the photograph (JPEG bytes), its archetype and layout, the entities it answers
    (entity → canonical value, first line first) and the answer line of each."""
    rng = np.random.default_rng([seed, SPLIT_IDS[split], index, _PHOTO_STREAM])
    label = _Label(rng, split, attribute_values)
    archetype = _pick(rng, PHOTO_ARCHETYPES)
    lines = _ARCHETYPES[archetype](label)
    lines = [lines[k] for k in rng.permutation(len(lines))]
    absent_draw, entity_draw = rng.random(), rng.random()
    size = int(rng.integers(image_size[0], image_size[1] + 1))
    cover = rng.uniform(0.6, 0.95)  # face width / image width
    scale = max(0.4, 2 * cover * size / 600)  # the face is drawn at about twice its size in the photo
    min_font = min_text_px * int(600 * scale) / (cover * size)  # face pixels that print `min_text_px` pixels
    face, pieces = _draw_face(rng, label, archetype, lines, scale, min_font)
    kept = [k for k, line_pieces in enumerate(pieces) if line_pieces]
    lines, pieces = [lines[k] for k in kept], [pieces[k] for k in kept]
    background = _background(rng, size, backgrounds, seed * 7919 + SPLIT_IDS[split], index)
    image, to_image = photograph(face, background, rng, cover)
    layout = []
    for text, (x0, y0, x1, y1) in (piece for line_pieces in pieces for piece in line_pieces):
        quad = warp_points(to_image, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]) * (1000.0 / size)
        layout.append({"text": text, "quad": np.round(np.clip(quad, 0, 1000), 1).tolist()})
    answers, printed = {}, {}
    for line in lines:
        for entity, value, unit in line["answers"]:
            if entity not in answers:
                answers[entity] = format_prediction(float(value), unit)
                printed[entity] = line["text"]
    photo = {"image": jpeg_bytes(image, int(rng.integers(30, 71))), "category": archetype, "layout": layout}
    return photo, answers, printed, (absent_draw, entity_draw)


def generate_photographed_labels(
    n: int = 1000,
    seed: int = 0,
    split: str = "train",
    image_size: tuple[int, int] | int = (224, 400),
    empty_fraction: float = 0.05,
    rows: str = "one",
    backgrounds: str | os.PathLike | None = None,
    attribute_values: dict | str | os.PathLike | None = None,
    min_text_px: float = MIN_TEXT_PX,
    num_proc: int | None = None,
):
    """`n` photographed labels of one split as a `datasets.Dataset` (see the module docstring).

    Args:
        n: labels (`rows="one"`: rows).
        seed: with `split` and the label's index, decides everything about it.
        split: `"train"` or `"test"`: which (value, unit) pairs, wording and background photos it may use.
        image_size: the side of each (square) photograph, drawn uniformly from this range; an int fixes it.
        empty_fraction: share of rows asking an entity the label does not show (answer `""`).
        rows: `"one"`: one row per label, asking one entity it shows (or, `empty_fraction` of the time, one it does
            not); `"all"`: a row for every entity it shows, and with probability `empty_fraction` one more for an
            entity it does not. Rows of one label share its `label_id`.
        backgrounds: a folder of photographs to compose the labels into, e.g. the Grocery Store Dataset (its
            `train.txt`/`val.txt` photos for the train split, `test.txt` for the test split); catalog scenes when
            None.
        attribute_values: real attribute strings to print as answers half of the time, from
            :func:`load_attribute_values` or the items file to read them from.
        min_text_px: the legibility floor, in output pixels.
        num_proc: processes drawing the labels.

    Columns: `id`, `label_id`, `image` (JPEG), `entity_name`, `entity_value` (canonical, or `""`), `printed` (the
    answer's line), `category` (the archetype) and `layout`.
    """
    from datasets import Dataset

    _check_arguments(n, split, empty_fraction)
    if rows not in ("one", "all"):
        raise ValueError(f"rows must be 'one' or 'all', got {rows!r}")
    low, high = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if not 64 <= low <= high:
        raise ValueError(f"image_size must be a range of at least 64 pixels, got {image_size}")
    if min_text_px <= 0:
        raise ValueError(f"min_text_px must be positive, got {min_text_px}")
    files = _background_files(os.fspath(backgrounds), split) if backgrounds is not None else None
    if attribute_values is not None and not isinstance(attribute_values, dict):
        attribute_values = load_attribute_values(attribute_values)
    settings = dict(seed=seed, split=split, image_size=(low, high), empty_fraction=empty_fraction, rows=rows,
                    backgrounds=files, attribute_values=attribute_values, min_text_px=float(min_text_px))
    names = ["id", "label_id", "image", "entity_name", "entity_value", "printed", "category", "layout"]
    num_proc = max(1, min(num_proc or 1, n))
    chunks = [list(range(n))[k::num_proc] for k in range(num_proc)]
    if num_proc == 1:
        parts = [list(_photographed_rows(chunks[0], settings))]
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(num_proc) as pool:
            parts = list(pool.map(_photographed_row_list, chunks, [settings] * num_proc))
    rows = sorted((row for part in parts for row in part), key=lambda row: row["label_id"])  # stable
    # Built in memory: the rows depend on this module's code, which a `datasets` cache would not notice.
    return Dataset.from_dict({name: [row[name] for row in rows] for name in names}, features=_features(names))


def _photographed_row_list(indices: list[int], settings: dict) -> list[dict]:
    return list(_photographed_rows(indices, settings))


def _photographed_rows(indices: list[int], settings: dict):
    seed, split, rows = settings["seed"], settings["split"], settings["rows"]
    for index in indices:
        photo, answers, printed, (absent_draw, entity_draw) = _photographed_label(
            seed, split, index, settings["image_size"], settings["empty_fraction"], settings["backgrounds"],
            settings["attribute_values"], settings["min_text_px"],
        )
        absent = [entity for entity in ENTITY_NAMES if entity not in answers]
        asked = []
        if rows == "all":
            asked = [(entity, answers[entity], printed[entity]) for entity in answers]
        if absent_draw < settings["empty_fraction"]:
            asked.append((absent[int(entity_draw * len(absent))], "", ""))
        elif rows == "one":
            entity = sorted(answers)[int(entity_draw * len(answers))]
            asked.append((entity, answers[entity], printed[entity]))
        label_id = f"photo-{split}-{index:06d}"
        for entity, value, line in asked:
            row_id = label_id if rows == "one" else f"{label_id}-{entity}"
            yield {"id": row_id, "label_id": label_id, "image": {"bytes": photo["image"], "path": None},
                   "entity_name": entity, "entity_value": value, "printed": line, "category": photo["category"],
                   "layout": photo["layout"]}
