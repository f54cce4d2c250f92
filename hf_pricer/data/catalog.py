"""A deterministic, fully offline, **synthetic** product catalog.

:func:`generate_catalog` is the default dataset of every training recipe in ``hf_pricer``. It
needs no network and no files: every row is drawn from a small, documented generative model and
every image is rendered with Pillow. The data are *not* real products and the prices are *not*
real prices; the catalog exists so that recipes, tests and benchmarks run anywhere and so that the
contribution of each modality to the price is known exactly. The model's tables (categories,
brands, colours, coefficients, text templates) are in :mod:`hf_pricer.data.catalog_tables`; the
images are drawn by :mod:`hf_pricer.data.rendering`.

Determinism
-----------
Row ``i`` is drawn from its own generator, ``numpy.random.default_rng([seed, i])``, so it does not
depend on ``n`` (``generate_catalog(100)`` is a prefix of ``generate_catalog(200)``), on
``image_size`` or on ``with_images``. The pixel-level texture of the image comes from a second
generator, ``default_rng([seed, i, 1])``. The same ``(n, seed, image_size)`` gives byte-identical
rows and PNG images (given the same Pillow/FreeType/zlib build; labels use the scalable font that
Pillow >= 10.1 bundles, ``ImageFont.load_default(size=...)``).

Categories
----------
Seven categories; each has product nouns, a drawn shape, a base price and one measurable entity
named as in the Amazon ML Challenge 2024:

=========================  =========  ============  ====================================
category                   shape      base price    entity (units)
=========================  =========  ============  ====================================
Beverages                  bottle     $12           item_volume (millilitre, litre, fluid ounce)
Pantry                     bag        $15           item_weight (gram, kilogram, ounce, pound)
Beauty & Personal Care     jar        $18           item_weight (gram, ounce)
Batteries & Power          battery    $22           voltage (volt)
Home Improvement           can        $28           item_volume (millilitre, litre, gallon)
Home Decor                 frame      $34           width / height / depth (centimetre, inch, millimetre)
Kitchen Appliances         appliance  $42           wattage (watt, kilowatt)
=========================  =========  ============  ====================================

Factors and where they are visible
----------------------------------
*Text-visible* (appear in ``title``/``text``/``details``): category and product noun, brand
(which belongs to one of four tiers: budget, standard, premium, luxury), a material / grade
phrase that is either premium ("Stainless Steel", "Organic", "Solid Oak", ...) or not, and a list
of 1-5 features. The category is also visible in the image through the drawn shape.

*Image-only* (never written in ``title``/``text``/``details``; the text contains no digits, no
colour or finish words): the measured quantity printed on the label (e.g. "NET WT / 2.5 kg",
"500 ml", "12 V", "1500 W", "WIDTH / 30 cm"), the drawn size of the product (``attr_size``, the
fraction of the canvas taken by its longer side) and the colour/finish (matte, glossy, or metallic
such as gold/silver).

Price formula
-------------
::

    log(price) = log(base[category])
               + tier[brand]                      # budget -0.40, standard 0, premium +0.35, luxury +0.80
               + 0.40 * premium_material
               + 0.10 * (n_features - 3)
               + 0.60 * quantity_rel              # log(quantity / category reference), about -1.5..+1.5
               + 1.20 * (size - 0.65)             # size ~ U(0.45, 0.85)
               + finish[finish]                   # matte 0, glossy +0.12, metallic +0.45
               + eps,   eps ~ N(0, 0.18**2)
    price = round(clip(exp(log(price)), 2, 2000), 2)   # dollars

``quantity_rel`` is the log of the quantity in the category's standard unit (gram, millilitre,
volt, watt, centimetre) over a category reference (500 g, 750 ml, ...). On a few thousand rows
the text-visible terms explain roughly half of the log-price variance, the image-only terms
roughly 40 %, and the noise about 5 %, so a model that uses both modalities clearly beats either
one alone. The three parts are stored as ``attr_log_price_text``, ``attr_log_price_image`` and
``attr_log_noise`` (they sum to the log of the unclipped price).

Columns
-------
``id``, ``title``, ``text`` (description), ``category``, ``price`` (float dollars),
``image`` (``datasets.Image``, RGB, ``image_size`` x ``image_size``; absent when
``with_images=False``), ``details`` (JSON of the text-visible attributes), ``entity_name``,
``entity_value`` and the ground-truth factors ``attr_*``.

``entity_value`` is the canonical challenge answer (``entities.format_prediction``: the float's shortest
decimal and the full unit name): "2.5 kilogram", "500.0 millilitre", "12.0 volt", "0.25 gallon".
The label in the image uses a common abbreviation and compact number (``f"{value:g}"``):
"2.5 kg", "500 ml", "12 V".
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .catalog_tables import (
    ADJECTIVES,
    BRANDS,
    CATEGORIES,
    CLOSERS,
    ENTITY_UNITS,
    FEATURE_TEMPLATES,
    FINISH_EFFECT,
    FINISH_PROBS,
    FINISHES,
    IMAGE_FACTORS,
    IMAGE_ONLY_WORDS,
    INTRO_TEMPLATES,
    LABEL_PREFIXES,
    METALLIC_COLOURS,
    NOISE_SD,
    PLAIN_COLOURS,
    PRICE_COEF,
    PRICE_RANGE,
    SIZE_RANGE,
    STANDARD_UNIT,
    TEXT_FACTORS,
    TIER_EFFECT,
    TIER_PROBS,
    TIERS,
    TITLE_TEMPLATES,
    TO_STANDARD_UNIT,
    UNIT_ABBREVIATIONS,
)
from .entities import format_prediction, parse_entity_value
from .rendering import ProductScene, png_bytes, render_product

__all__ = [
    "CATEGORIES",
    "ENTITY_UNITS",
    "IMAGE_FACTORS",
    "IMAGE_ONLY_WORDS",
    "TEXT_FACTORS",
    "UNIT_ABBREVIATIONS",
    "catalog_features",
    "generate_catalog",
    "parse_entity_value",
    "sample_row",
]


def generate_catalog(n: int = 2000, seed: int = 0, image_size: int = 224, with_images: bool = True):
    """Generate ``n`` synthetic catalog rows as a ``datasets.Dataset``.

    Args:
        n: number of rows. Row ``i`` does not depend on ``n``.
        seed: global seed; row ``i`` uses ``numpy.random.default_rng([seed, i])``.
        image_size: side of the square RGB product image, in pixels (labels are legible from
            128 up).
        with_images: when False the ``image`` column is omitted and nothing is rendered.

    Returns:
        A ``datasets.Dataset`` with the columns described in this module's docstring and the
        features of :func:`catalog_features`.
    """
    from datasets import Dataset

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if with_images and image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    features = catalog_features(with_images)
    columns: dict[str, list] = {name: [] for name in features}
    for i in range(n):
        row, scene = sample_row(seed, i)
        if with_images:
            image = render_product(scene, image_size, np.random.default_rng([seed, i, 1]))
            row["image"] = {"bytes": png_bytes(image), "path": None}
        for name, values in columns.items():
            values.append(row[name])
    return Dataset.from_dict(columns, features=features)


def catalog_features(with_images: bool = True):
    """The explicit ``datasets.Features`` of :func:`generate_catalog`'s output."""
    from datasets import Features, Image, Value

    string, f64, i64, boolean = Value("string"), Value("float64"), Value("int64"), Value("bool")
    columns: dict[str, Any] = {
        "id": string,
        "title": string,
        "text": string,
        "category": string,
        "price": f64,
    }
    if with_images:
        columns["image"] = Image()
    columns.update(
        {
            "details": string,
            "entity_name": string,
            "entity_value": string,
            # text-visible factors
            "attr_brand": string,
            "attr_brand_tier": string,
            "attr_product_type": string,
            "attr_material": string,
            "attr_premium_material": boolean,
            "attr_n_features": i64,
            # image-only factors
            "attr_shape": string,
            "attr_quantity": f64,
            "attr_unit": string,
            "attr_quantity_std": f64,
            "attr_std_unit": string,
            "attr_quantity_rel": f64,
            "attr_label": string,
            "attr_size": f64,
            "attr_color": string,
            "attr_finish": string,
            # decomposition of log(price)
            "attr_log_price_text": f64,
            "attr_log_price_image": f64,
            "attr_log_noise": f64,
        }
    )
    return Features(columns)


# --------------------------------------------------------------------------------------------
# Row sampling
# --------------------------------------------------------------------------------------------

_CATEGORY_NAMES = tuple(CATEGORIES)


def sample_row(seed: int, i: int) -> tuple[dict[str, Any], ProductScene]:
    """All columns of row ``i`` except the image, and the scene its image shows."""
    rng = np.random.default_rng([seed, i])
    category = _pick(rng, _CATEGORY_NAMES)
    spec = CATEGORIES[category]

    # --- text-visible factors -------------------------------------------------------------
    noun = _pick(rng, spec["nouns"])
    tier = _pick(rng, TIERS, p=TIER_PROBS)
    brand = _pick(rng, BRANDS[tier])
    material, premium = _pick(rng, spec["materials"])
    n_features = int(rng.integers(1, 6))
    feature_idx = rng.choice(len(spec["features"]), size=n_features, replace=False)
    features = [spec["features"][int(k)] for k in feature_idx]
    adjective = _pick(rng, ADJECTIVES)

    # --- image-only factors -----------------------------------------------------------------
    entity_names = [e for e, _ in spec["entities"]]
    entity_name = _pick(rng, entity_names, p=[p for _, p in spec["entities"]])
    units = list(spec["units"])
    unit = _pick(rng, units, p=[spec["units"][u][0] for u in units])
    quantity = float(_pick(rng, spec["units"][unit][1]))
    quantity_std = quantity * TO_STANDARD_UNIT[unit]
    quantity_rel = math.log(quantity_std / spec["reference"])
    size = float(rng.uniform(*SIZE_RANGE))
    finish = _pick(rng, FINISHES, p=FINISH_PROBS)
    palette = METALLIC_COLOURS if finish == "metallic" else PLAIN_COLOURS
    color = _pick(rng, list(palette))
    prefix = _pick(rng, LABEL_PREFIXES[entity_name])
    label = f"{quantity:g} {UNIT_ABBREVIATIONS[unit]}"

    # --- price --------------------------------------------------------------------------------
    log_text, log_image = _log_price(spec, tier, premium, n_features, quantity_rel, size, finish)
    noise = float(rng.normal(0.0, NOISE_SD))
    price = round(float(np.clip(math.exp(log_text + log_image + noise), *PRICE_RANGE)), 2)

    title, text = _listing_text(rng, brand, material, noun, adjective, features)
    details = json.dumps(
        {
            "brand": brand,
            "category": category,
            "product_type": noun,
            "material": material,
            "features": features,
        },
        ensure_ascii=False,
    )

    scene = ProductScene(
        shape=spec["shape"],
        rgb=palette[color],
        finish=finish,
        size=size,
        prefix=prefix,
        label=label,
        # neutral layout parameters (no price effect)
        dx=float(rng.uniform(-1.0, 1.0)),
        dy=float(rng.uniform(-1.0, 1.0)),
        background=tuple(int(c) for c in rng.integers(215, 250, size=3)),
        landscape=bool(rng.random() < 0.5),
    )
    row = {
        "id": f"synthetic-{i:06d}",
        "title": title,
        "text": text,
        "category": category,
        "price": price,
        "details": details,
        "entity_name": entity_name,
        "entity_value": format_prediction(quantity, unit),
        "attr_brand": brand,
        "attr_brand_tier": tier,
        "attr_product_type": noun,
        "attr_material": material,
        "attr_premium_material": bool(premium),
        "attr_n_features": n_features,
        "attr_shape": spec["shape"],
        "attr_quantity": quantity,
        "attr_unit": unit,
        "attr_quantity_std": quantity_std,
        "attr_std_unit": STANDARD_UNIT[entity_name],
        "attr_quantity_rel": quantity_rel,
        "attr_label": label,
        "attr_size": size,
        "attr_color": color,
        "attr_finish": finish,
        "attr_log_price_text": log_text,
        "attr_log_price_image": log_image,
        "attr_log_noise": noise,
    }
    return row, scene


def _log_price(spec, tier, premium, n_features, quantity_rel, size, finish) -> tuple[float, float]:
    """The text-visible and the image-only terms of log(price), as in the module docstring's formula."""
    log_text = (
        math.log(spec["base_price"])
        + TIER_EFFECT[tier]
        + PRICE_COEF["premium_material"] * premium
        + PRICE_COEF["n_features"] * (n_features - 3)
    )
    log_image = (
        PRICE_COEF["quantity_rel"] * quantity_rel + PRICE_COEF["size"] * (size - 0.65) + FINISH_EFFECT[finish]
    )
    return log_text, log_image


def _listing_text(
    rng: np.random.Generator, brand: str, material: str, noun: str, adjective: str, features: list[str]
) -> tuple[str, str]:
    """The title and the 2-4 sentence description: no digits, no colour, finish or size words."""
    title = _pick(rng, TITLE_TEMPLATES).format(
        brand=brand,
        material=material,
        noun=noun,
        adjective=adjective,
        feature=_title_case(features[0]),
    )
    words = {
        "brand": brand,
        "noun_l": _lower_phrase(noun),
        "material_l": _lower_phrase(material),
        "adjective_l": _lower_phrase(adjective),
    }
    words["article"] = _article(words["material_l"])
    sentences = [_pick(rng, INTRO_TEMPLATES).format(**words)]
    if len(features) >= 4 and rng.random() < 0.5:
        split = len(features) // 2
        sentences.append(_pick(rng, FEATURE_TEMPLATES).format(features=_join(features[:split])))
        sentences.append(f"It also offers {_join(features[split:])}.")
    else:
        sentences.append(_pick(rng, FEATURE_TEMPLATES).format(features=_join(features)))
    if len(sentences) < 4 and rng.random() < 0.6:
        sentences.append(_pick(rng, CLOSERS).format(brand=brand))
    text = " ".join(s[:1].upper() + s[1:] for s in sentences)
    return title, text


def _pick(rng: np.random.Generator, items, p=None):
    return items[int(rng.choice(len(items), p=p))]


def _lower_phrase(phrase: str) -> str:
    """Lower-case a phrase for running text, keeping acronyms ("MDF", "NiMH", "Zero-VOC", "C")."""

    def part(p: str) -> str:
        keep = any(c.isupper() for c in p[1:]) or (len(p) == 1 and p.isupper())
        return p if keep else p.lower()

    return " ".join("-".join(part(p) for p in w.split("-")) for w in phrase.split())


def _title_case(phrase: str) -> str:
    return " ".join(w if any(c.isupper() for c in w) else w[:1].upper() + w[1:] for w in phrase.split())


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
