"""A deterministic, fully offline, **synthetic** product catalog.

:func:`generate_catalog` is the default dataset of every training recipe in ``hf_pricer``. It
needs no network and no files: every row is drawn from a small, documented generative model and
every image is rendered with Pillow. The data are *not* real products and the prices are *not*
real prices; the catalog exists so that recipes, tests and benchmarks run anywhere and so that the
contribution of each modality to the price is known exactly.

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

import io
import json
import math
from functools import lru_cache
from typing import Any

import numpy as np

from .entities import format_prediction, parse_entity_value

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
]

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

#: Abbreviation printed on the image label for each unit.
UNIT_ABBREVIATIONS: dict[str, str] = {
    "gram": "g",
    "kilogram": "kg",
    "ounce": "oz",
    "pound": "lb",
    "millilitre": "ml",
    "litre": "L",
    "fluid ounce": "fl oz",
    "gallon": "gal",
    "volt": "V",
    "watt": "W",
    "kilowatt": "kW",
    "centimetre": "cm",
    "inch": "in",
    "millimetre": "mm",
}

# Conversion of each unit to the standard unit of its entity (gram, millilitre, volt, watt, cm).
_TO_STD: dict[str, float] = {
    "gram": 1.0,
    "kilogram": 1000.0,
    "ounce": 28.349523125,
    "pound": 453.59237,
    "millilitre": 1.0,
    "litre": 1000.0,
    "fluid ounce": 29.5735295625,
    "gallon": 3785.411784,
    "volt": 1.0,
    "watt": 1.0,
    "kilowatt": 1000.0,
    "centimetre": 1.0,
    "inch": 2.54,
    "millimetre": 0.1,
}
_STD_UNIT = {
    "item_weight": "gram",
    "item_volume": "millilitre",
    "voltage": "volt",
    "wattage": "watt",
    "width": "centimetre",
    "height": "centimetre",
    "depth": "centimetre",
}

_LABEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "item_weight": ("NET WT", "NET WEIGHT", ""),
    "item_volume": ("NET VOL", "CONTENTS", ""),
    "voltage": ("", "OUTPUT"),
    "wattage": ("", "POWER"),
    "width": ("WIDTH", "W"),
    "height": ("HEIGHT", "H"),
    "depth": ("DEPTH", "D"),
}

# Each category: nouns, shape, base price ($), entity (or a tuple of (entity, prob) for
# dimensions), the reference quantity in the standard unit, units with their nice values and
# probabilities, material phrases (phrase, premium) and features.
CATEGORIES: dict[str, dict[str, Any]] = {
    "Beverages": {
        "nouns": [
            "Cold-Pressed Juice",
            "Sparkling Water",
            "Iced Tea",
            "Kombucha",
            "Lemonade",
            "Coconut Water",
            "Sports Drink",
            "Cold Brew Coffee",
        ],
        "shape": "bottle",
        "base_price": 12.0,
        "entities": (("item_volume", 1.0),),
        "reference": 750.0,
        "units": {
            "millilitre": (0.55, [200, 250, 300, 330, 350, 400, 500, 600, 700, 750, 1000, 1250]),
            "litre": (0.25, [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, 3]),
            "fluid ounce": (0.20, [8, 10, 12, 16, 20, 24, 32, 48, 64]),
        },
        "materials": [
            ("Natural", False),
            ("Classic", False),
            ("Lightly Sweetened", False),
            ("Organic", True),
            ("Small-Batch", True),
            ("Artisanal", True),
        ],
        "features": [
            "no added sugar",
            "non-GMO ingredients",
            "vegan friendly",
            "gluten free",
            "rich in electrolytes",
            "recyclable packaging",
            "no artificial flavours",
            "sourced from family farms",
        ],
    },
    "Pantry": {
        "nouns": [
            "Coffee Beans",
            "Basmati Rice",
            "Rolled Oats",
            "Almond Flour",
            "Trail Mix",
            "Dry Dog Food",
            "Granola",
            "Dried Lentils",
        ],
        "shape": "bag",
        "base_price": 15.0,
        "entities": (("item_weight", 1.0),),
        "reference": 500.0,
        "units": {
            "gram": (0.40, [150, 200, 250, 300, 340, 400, 454, 500, 750, 900]),
            "kilogram": (0.20, [0.5, 0.75, 1, 1.2, 1.5, 2, 2.5]),
            "ounce": (0.25, [6, 8, 10, 12, 16, 20, 24, 32, 48]),
            "pound": (0.15, [0.5, 1, 1.5, 2, 3, 4, 5]),
        },
        "materials": [
            ("Classic", False),
            ("Everyday", False),
            ("Value Blend", False),
            ("Organic", True),
            ("Single-Origin", True),
            ("Stone-Ground", True),
        ],
        "features": [
            "resealable pouch",
            "non-GMO",
            "gluten free",
            "fair trade certified",
            "no preservatives",
            "high in protein",
            "slow roasted",
            "packed fresh",
        ],
    },
    "Beauty & Personal Care": {
        "nouns": [
            "Face Moisturizer",
            "Night Cream",
            "Body Butter",
            "Hair Mask",
            "Lip Balm",
            "Eye Cream",
            "Clay Mask",
            "Hand Cream",
        ],
        "shape": "jar",
        "base_price": 18.0,
        "entities": (("item_weight", 1.0),),
        "reference": 75.0,
        "units": {
            "gram": (0.65, [20, 25, 30, 40, 50, 60, 75, 100, 120, 150, 200, 250]),
            "ounce": (0.35, [0.7, 1, 1.2, 1.7, 2, 2.5, 3.4, 4, 5, 6, 8]),
        },
        "materials": [
            ("Fragrance-Free", False),
            ("Shea", False),
            ("Aloe", False),
            ("Hyaluronic", True),
            ("Retinol", True),
            ("Vitamin C", True),
        ],
        "features": [
            "dermatologist tested",
            "cruelty free",
            "paraben free",
            "non-comedogenic",
            "suitable for sensitive skin",
            "fast absorbing",
            "hypoallergenic",
            "refillable container",
        ],
    },
    "Batteries & Power": {
        "nouns": [
            "Rechargeable Battery",
            "Battery Pack",
            "Tool Battery",
            "Power Cell",
            "Backup Battery",
            "Replacement Battery",
        ],
        "shape": "battery",
        "base_price": 22.0,
        "entities": (("voltage", 1.0),),
        "reference": 9.0,
        "units": {
            "volt": (1.0, [1.5, 2, 3, 3.6, 3.7, 4.8, 6, 7.2, 9, 10.8, 12, 14.4, 18, 20, 24, 36]),
        },
        "materials": [
            ("Alkaline", False),
            ("Zinc-Carbon", False),
            ("NiMH", False),
            ("Lithium-Ion", True),
            ("Lithium Iron Phosphate", True),
            ("Lithium Polymer", True),
        ],
        "features": [
            "low self-discharge",
            "overcharge protection",
            "built-in charge indicator",
            "leak-proof design",
            "cold-weather performance",
            "fast charging",
            "temperature protection",
            "long shelf life",
        ],
    },
    "Home Improvement": {
        "nouns": [
            "Interior Wall Paint",
            "Exterior Paint",
            "Wood Stain",
            "Primer",
            "Chalk Paint",
            "Floor Varnish",
            "Deck Sealer",
            "Enamel Paint",
        ],
        "shape": "can",
        "base_price": 28.0,
        "entities": (("item_volume", 1.0),),
        "reference": 1000.0,
        "units": {
            "millilitre": (0.25, [250, 300, 400, 500, 750, 946]),
            "litre": (0.50, [0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4]),
            "gallon": (0.25, [0.125, 0.25, 0.5, 0.75, 1]),
        },
        "materials": [
            ("Water-Based", False),
            ("Acrylic", False),
            ("Latex", False),
            ("Zero-VOC", True),
            ("Oil-Based Alkyd", True),
            ("Ceramic-Reinforced", True),
        ],
        "features": [
            "one-coat coverage",
            "mildew resistant",
            "fast drying",
            "low odour",
            "stain blocking",
            "UV resistant",
            "easy soap-and-water cleanup",
            "self-priming",
        ],
    },
    "Home Decor": {
        "nouns": [
            "Wall Mirror",
            "Picture Frame",
            "Floating Shelf",
            "Canvas Wall Art",
            "Cork Board",
            "Decorative Tray",
        ],
        "shape": "frame",
        "base_price": 34.0,
        "entities": (("width", 0.5), ("height", 0.35), ("depth", 0.15)),
        "reference": 50.0,
        "units": {
            "centimetre": (0.45, [20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100, 120]),
            "inch": (0.35, [8, 10, 12, 14, 16, 18, 20, 24, 30, 36, 40, 48]),
            "millimetre": (0.20, [200, 250, 300, 400, 500, 600, 800, 1000, 1200]),
        },
        "materials": [
            ("MDF", False),
            ("Pine Wood", False),
            ("Bamboo", False),
            ("Solid Oak", True),
            ("Walnut", True),
            ("Hand-Forged Iron", True),
        ],
        "features": [
            "wall-mounting hardware",
            "scratch-resistant surface",
            "easy assembly",
            "hand finished edges",
            "moisture resistant",
            "rounded corners",
            "hidden fixings",
            "eco-friendly materials",
        ],
    },
    "Kitchen Appliances": {
        "nouns": [
            "Electric Kettle",
            "Blender",
            "Toaster",
            "Coffee Maker",
            "Stand Mixer",
            "Air Fryer",
            "Food Processor",
            "Rice Cooker",
        ],
        "shape": "appliance",
        "base_price": 42.0,
        "entities": (("wattage", 1.0),),
        "reference": 1000.0,
        "units": {
            "watt": (
                0.8,
                [
                    250,
                    300,
                    350,
                    400,
                    500,
                    600,
                    700,
                    800,
                    900,
                    1000,
                    1100,
                    1200,
                    1400,
                    1500,
                    1700,
                    1800,
                    2000,
                    2200,
                    2400,
                    3000,
                ],
            ),
            "kilowatt": (0.2, [0.3, 0.5, 0.8, 1, 1.2, 1.5, 1.8, 2, 2.2, 2.5, 3]),
        },
        "materials": [
            ("Plastic", False),
            ("Painted Steel", False),
            ("Enamel-Coated", False),
            ("Stainless Steel", True),
            ("Borosilicate Glass", True),
            ("Die-Cast Aluminium", True),
        ],
        "features": [
            "auto shut-off",
            "boil-dry protection",
            "keep-warm function",
            "cool-touch housing",
            "variable temperature control",
            "pulse mode",
            "dishwasher-safe parts",
            "digital display",
        ],
    },
}

#: The units the catalog draws for each entity: a subset of the challenge's (``entities.ENTITY_UNIT_MAP``).
ENTITY_UNITS: dict[str, tuple[str, ...]] = {
    entity: tuple(
        dict.fromkeys(
            unit for spec in CATEGORIES.values() if entity in dict(spec["entities"]) for unit in spec["units"]
        )
    )
    for entity in dict.fromkeys(entity for spec in CATEGORIES.values() for entity, _ in spec["entities"])
}

_BRANDS: dict[str, list[str]] = {
    "budget": ["ValuMart", "EconoLine", "Basix", "Thriftwell", "SaveRite"],
    "standard": ["Acme", "Northfield", "HomeCraft", "Everly", "Brightway"],
    "premium": ["Zenith", "Aurelia", "Kestrel", "Lumina"],
    "luxury": ["Maison Verre", "Regalis", "Obsidian & Co", "Castellane"],
}
_TIERS = ("budget", "standard", "premium", "luxury")
_TIER_PROBS = (0.30, 0.35, 0.25, 0.10)
_TIER_EFFECT = {"budget": -0.40, "standard": 0.0, "premium": 0.35, "luxury": 0.80}

_FINISHES = ("matte", "glossy", "metallic")
_FINISH_PROBS = (0.45, 0.35, 0.20)
_FINISH_EFFECT = {"matte": 0.0, "glossy": 0.12, "metallic": 0.45}
_PLAIN_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (196, 40, 46),
    "blue": (40, 90, 190),
    "green": (46, 140, 70),
    "black": (35, 35, 38),
    "white": (236, 236, 232),
    "navy": (28, 40, 96),
    "teal": (24, 128, 128),
    "orange": (232, 120, 30),
    "yellow": (236, 200, 50),
    "purple": (110, 52, 150),
    "gray": (128, 130, 134),
    "pink": (228, 120, 160),
}
_METALLIC_COLOURS: dict[str, tuple[int, int, int]] = {
    "gold": (212, 175, 55),
    "silver": (192, 194, 200),
    "rose gold": (205, 140, 130),
    "bronze": (165, 110, 55),
}
#: Words that describe image-only attributes; none of them ever appears in title/text/details.
IMAGE_ONLY_WORDS = tuple(_PLAIN_COLOURS) + tuple(_METALLIC_COLOURS) + _FINISHES

_ADJECTIVES = [
    "Signature",
    "Essential",
    "Modern",
    "Heritage",
    "Everyday Plus",
    "Studio",
    "Select",
    "Original",
]

_PRICE_COEF = {"premium_material": 0.40, "n_features": 0.10, "quantity_rel": 0.60, "size": 1.20}
_NOISE_SD = 0.18
_SIZE_RANGE = (0.45, 0.85)
_PRICE_RANGE = (2.0, 2000.0)

#: Ground-truth factor columns visible in the text (``attr_category`` is the ``category`` column).
TEXT_FACTORS = (
    "category",
    "attr_brand",
    "attr_brand_tier",
    "attr_product_type",
    "attr_material",
    "attr_premium_material",
    "attr_n_features",
)
#: Ground-truth factor columns visible only in the image.
IMAGE_FACTORS = (
    "attr_quantity",
    "attr_unit",
    "attr_quantity_std",
    "attr_quantity_rel",
    "attr_size",
    "attr_color",
    "attr_finish",
)


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


_TITLE_TEMPLATES = (
    "{brand} {material} {noun}",
    "{brand} {adjective} {material} {noun}",
    "{material} {noun} by {brand}",
    "{brand} {noun}, {material}, {feature}",
    "{brand} {adjective} {noun} - {material}",
    "{brand} {material} {noun} with {feature}",
)
_INTRO_TEMPLATES = (
    "The {brand} {material_l} {noun_l} is designed for everyday use.",
    "Meet the {material_l} {noun_l} from {brand}.",
    "{brand} brings you {article} {material_l} {noun_l} built to last.",
    "This {material_l} {noun_l} from {brand} combines quality with thoughtful design.",
    "Upgrade your routine with the {brand} {adjective_l} {material_l} {noun_l}.",
)
_FEATURE_TEMPLATES = (
    "It features {features}.",
    "Highlights include {features}.",
    "Key features: {features}.",
    "You get {features} in one package.",
)
_CLOSERS = (
    "A great choice for home, office or gifting.",
    "Backed by {brand} customer support.",
    "Ships in protective packaging.",
    "Loved by customers for its reliability.",
    "Easy to use straight out of the box.",
    "Designed and tested by the {brand} team.",
)


def _sample_row(seed: int, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """All columns of row ``i`` except the image, and the parameters to render it."""
    rng = np.random.default_rng([seed, i])
    category = _pick(rng, _CATEGORY_NAMES)
    spec = CATEGORIES[category]

    # --- text-visible factors -------------------------------------------------------------
    noun = _pick(rng, spec["nouns"])
    tier = _pick(rng, _TIERS, p=_TIER_PROBS)
    brand = _pick(rng, _BRANDS[tier])
    material, premium = _pick(rng, spec["materials"])
    n_features = int(rng.integers(1, 6))
    feature_idx = rng.choice(len(spec["features"]), size=n_features, replace=False)
    features = [spec["features"][int(k)] for k in feature_idx]
    adjective = _pick(rng, _ADJECTIVES)

    # --- image-only factors -----------------------------------------------------------------
    entity_names = [e for e, _ in spec["entities"]]
    entity_name = _pick(rng, entity_names, p=[p for _, p in spec["entities"]])
    units = list(spec["units"])
    unit = _pick(rng, units, p=[spec["units"][u][0] for u in units])
    quantity = float(_pick(rng, spec["units"][unit][1]))
    quantity_std = quantity * _TO_STD[unit]
    quantity_rel = math.log(quantity_std / spec["reference"])
    size = float(rng.uniform(*_SIZE_RANGE))
    finish = _pick(rng, _FINISHES, p=_FINISH_PROBS)
    palette = _METALLIC_COLOURS if finish == "metallic" else _PLAIN_COLOURS
    color = _pick(rng, list(palette))
    prefix = _pick(rng, _LABEL_PREFIXES[entity_name])
    label = f"{quantity:g} {UNIT_ABBREVIATIONS[unit]}"

    # --- price --------------------------------------------------------------------------------
    log_text = (
        math.log(spec["base_price"])
        + _TIER_EFFECT[tier]
        + _PRICE_COEF["premium_material"] * premium
        + _PRICE_COEF["n_features"] * (n_features - 3)
    )
    log_image = (
        _PRICE_COEF["quantity_rel"] * quantity_rel
        + _PRICE_COEF["size"] * (size - 0.65)
        + _FINISH_EFFECT[finish]
    )
    noise = float(rng.normal(0.0, _NOISE_SD))
    price = round(float(np.clip(math.exp(log_text + log_image + noise), *_PRICE_RANGE)), 2)

    # --- listing text (no digits, no colour/finish/size words) ---------------------------------
    title = _pick(rng, _TITLE_TEMPLATES).format(
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
    sentences = [_pick(rng, _INTRO_TEMPLATES).format(**words)]
    if n_features >= 4 and rng.random() < 0.5:
        split = n_features // 2
        sentences.append(_pick(rng, _FEATURE_TEMPLATES).format(features=_join(features[:split])))
        sentences.append(f"It also offers {_join(features[split:])}.")
    else:
        sentences.append(_pick(rng, _FEATURE_TEMPLATES).format(features=_join(features)))
    if len(sentences) < 4 and rng.random() < 0.6:
        sentences.append(_pick(rng, _CLOSERS).format(brand=brand))
    text = " ".join(s[:1].upper() + s[1:] for s in sentences)

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

    render = {
        "shape": spec["shape"],
        "rgb": palette[color],
        "finish": finish,
        "size": size,
        "prefix": prefix,
        "label": label,
        # neutral layout parameters (no price effect)
        "dx": float(rng.uniform(-1.0, 1.0)),
        "dy": float(rng.uniform(-1.0, 1.0)),
        "background": tuple(int(c) for c in rng.integers(215, 250, size=3)),
        "landscape": bool(rng.random() < 0.5),
    }
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
        "attr_std_unit": _STD_UNIT[entity_name],
        "attr_quantity_rel": quantity_rel,
        "attr_label": label,
        "attr_size": size,
        "attr_color": color,
        "attr_finish": finish,
        "attr_log_price_text": log_text,
        "attr_log_price_image": log_image,
        "attr_log_noise": noise,
    }
    return row, render


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_SHAPE_ASPECT = {  # width / height of the product's bounding box
    "bottle": 0.55,
    "bag": 0.78,
    "jar": 1.15,
    "battery": 0.5,
    "can": 0.85,
    "appliance": 0.9,
}


@lru_cache(maxsize=64)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _shade(rgb, factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in rgb)


def _paint(rgb, finish: str, box, canvas_size: int) -> np.ndarray:
    """The product's surface as an (S, S, 3) uint8 array; only the part under the mask is used."""
    x0, _, x1, _ = box
    width = max(x1 - x0, 1.0)
    u = (np.arange(canvas_size, dtype=np.float32) + 0.5 - x0) / width  # 0..1 across the product
    u = np.clip(u, 0.0, 1.0)
    base = np.asarray(rgb, dtype=np.float32)
    if finish == "matte":
        shade = 1.0 - 0.10 * u
        light = np.zeros_like(u)
    elif finish == "glossy":
        shade = 1.0 - 0.18 * u
        light = 0.55 * np.exp(-(((u - 0.25) / 0.06) ** 2))
    else:  # metallic: banded reflections with a bright streak and dark edges
        shade = 0.62 + 0.38 * np.cos((u - 0.35) * math.pi * 1.6) ** 2
        shade = shade * (1.0 - 0.25 * np.abs(u - 0.5) * 2)
        light = 0.75 * np.exp(-(((u - 0.3) / 0.05) ** 2)) + 0.3 * np.exp(-(((u - 0.75) / 0.04) ** 2))
    row = base[None, :] * shade[:, None]
    row = row + (255.0 - row) * light[:, None]
    row = np.clip(row, 0, 255).astype(np.uint8)  # (S, 3)
    return np.broadcast_to(row[None, :, :], (canvas_size, canvas_size, 3))


def _background(render, size: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    base = np.asarray(render["background"], dtype=np.float32)
    y = np.linspace(-1.0, 1.0, size, dtype=np.float32)[:, None, None]
    img = base[None, None, :] * (1.0 - 0.04 * y) + np.zeros((size, size, 3), np.float32)
    # light, low-frequency texture (cheap to compress, deterministic)
    cells = max(size // 16, 2)
    coarse = rng.normal(0.0, 3.0, size=(cells, cells)).astype(np.float32)
    texture = np.asarray(
        Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BILINEAR), np.float32
    )
    img += texture[:, :, None]
    # floor line
    floor = int(size * 0.86)
    img[floor:] *= 0.94
    return np.clip(img, 0, 255).astype(np.uint8)


def _render(render: dict[str, Any], size: int, rng: np.random.Generator, draw_text: bool = True):
    from PIL import Image, ImageDraw

    S = float(size)
    canvas = Image.fromarray(_background(render, size, rng), "RGB")
    shape = render["shape"]
    aspect = _SHAPE_ASPECT.get(shape)
    if shape == "frame":
        aspect = 1.3 if render["landscape"] else 0.8
    long_side = render["size"] * S
    w, h = (long_side * aspect, long_side) if aspect <= 1 else (long_side, long_side / aspect)
    cx = S / 2 + render["dx"] * (S - w) * 0.15
    cy = S / 2 + render["dy"] * (S - h) * 0.15
    x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    lw = max(1, size // 112)

    rgb = render["rgb"]
    dark = _shade(rgb, 0.55) if sum(rgb) > 150 else _shade((90, 90, 95), 1.0)
    grey, dark_grey = (150, 152, 156), (60, 62, 66)

    # shadow
    draw = ImageDraw.Draw(canvas)
    draw.ellipse(
        [x0 + 0.05 * w, y1 - 0.04 * h, x1 - 0.05 * w, y1 + 0.04 * h], fill=_shade(render["background"], 0.8)
    )

    mask = Image.new("L", (size, size), 0)
    md = ImageDraw.Draw(mask)
    overlays = []  # (method, args, kwargs) drawn on top of the painted body
    label_cy = cy

    if shape == "bottle":
        neck_w, body_top = 0.36 * w, y0 + 0.32 * h
        md.rounded_rectangle([x0, body_top, x1, y1], radius=0.18 * w, fill=255)
        md.polygon(
            [
                (cx - neck_w / 2, y0 + 0.14 * h),
                (cx + neck_w / 2, y0 + 0.14 * h),
                (x1 - 0.04 * w, body_top + 0.06 * h),
                (x0 + 0.04 * w, body_top + 0.06 * h),
            ],
            fill=255,
        )
        overlays.append(
            ("rectangle", [cx - neck_w / 2 - 1, y0, cx + neck_w / 2 + 1, y0 + 0.14 * h], {"fill": dark_grey})
        )
        overlays.append(
            ("rounded_rectangle", [x0, body_top, x1, y1], {"radius": 0.18 * w, "outline": dark, "width": lw})
        )
        label_cy = y0 + 0.64 * h
    elif shape == "bag":
        teeth = 8
        pts = [(x0 + 0.06 * w, y0 + 0.06 * h)]
        for k in range(1, teeth * 2):
            pts.append((x0 + 0.06 * w + k * (0.88 * w) / (teeth * 2), y0 + (0.0 if k % 2 else 0.06 * h)))
        pts += [(x1 - 0.06 * w, y0 + 0.06 * h), (x1, y1), (x0, y1)]
        md.polygon(pts, fill=255)
        overlays.append(
            (
                "line",
                [(x0 + 0.05 * w, y0 + 0.14 * h), (x1 - 0.05 * w, y0 + 0.14 * h)],
                {"fill": dark, "width": max(lw, 2)},
            )
        )
        overlays.append(("polygon", pts, {"outline": dark, "width": lw}))
        label_cy = y0 + 0.56 * h
    elif shape == "jar":
        lid_h = 0.26 * h
        md.rounded_rectangle([x0, y0 + lid_h, x1, y1], radius=0.12 * w, fill=255)
        overlays.append(
            (
                "rounded_rectangle",
                [x0 - 0.02 * w, y0, x1 + 0.02 * w, y0 + lid_h],
                {"radius": 0.05 * w, "fill": dark_grey},
            )
        )
        for k in range(1, 12):
            xx = x0 + k * w / 12
            overlays.append(
                (
                    "line",
                    [(xx, y0 + 0.15 * lid_h), (xx, y0 + 0.85 * lid_h)],
                    {"fill": (90, 92, 96), "width": lw},
                )
            )
        overlays.append(
            (
                "rounded_rectangle",
                [x0, y0 + lid_h, x1, y1],
                {"radius": 0.12 * w, "outline": dark, "width": lw},
            )
        )
        label_cy = y0 + lid_h + 0.5 * (h - lid_h)
    elif shape == "battery":
        nub_h = 0.07 * h
        md.rounded_rectangle([x0, y0 + nub_h, x1, y1], radius=0.12 * w, fill=255)
        overlays.append(("rectangle", [cx - 0.18 * w, y0, cx + 0.18 * w, y0 + nub_h + 1], {"fill": grey}))
        overlays.append(
            ("rectangle", [x0, y0 + nub_h + 0.1 * w, x1, y0 + nub_h + 0.2 * h], {"fill": (30, 30, 32)})
        )
        overlays.append(
            (
                "rounded_rectangle",
                [x0, y0 + nub_h, x1, y1],
                {"radius": 0.12 * w, "outline": dark, "width": lw},
            )
        )
        label_cy = y0 + 0.62 * h
    elif shape == "can":
        rim = 0.1 * h
        body = [x0, y0 + 0.12 * h + rim / 2, x1, y1 - rim / 2]
        md.rectangle(body, fill=255)
        md.ellipse([x0, y1 - rim, x1, y1], fill=255)
        overlays.append(
            (
                "arc",
                [x0 + 0.1 * w, y0, x1 - 0.1 * w, y0 + 0.3 * h + rim],
                {"start": 180, "end": 360, "fill": dark_grey, "width": max(lw, 2)},
            )
        )
        overlays.append(
            (
                "ellipse",
                [x0, y0 + 0.12 * h, x1, y0 + 0.12 * h + rim],
                {"fill": grey, "outline": dark_grey, "width": lw},
            )
        )
        overlays.append(("line", [(x0, body[1]), (x0, body[3])], {"fill": dark, "width": lw}))
        overlays.append(("line", [(x1, body[1]), (x1, body[3])], {"fill": dark, "width": lw}))
        label_cy = y0 + 0.6 * h
    elif shape == "appliance":
        md.rounded_rectangle([x0, y0, x1, y1], radius=0.08 * w, fill=255)
        panel = [x0 + 0.08 * w, y1 - 0.26 * h, x1 - 0.08 * w, y1 - 0.06 * h]
        overlays.append(("rounded_rectangle", panel, {"radius": 0.03 * w, "fill": (40, 42, 46)}))
        r = 0.05 * min(w, h)
        py = (panel[1] + panel[3]) / 2
        for k, frac in enumerate((0.25, 0.5, 0.75)):
            px = panel[0] + frac * (panel[2] - panel[0])
            fill = (220, 60, 50) if k == 2 else (200, 202, 206)
            overlays.append(("ellipse", [px - r, py - r, px + r, py + r], {"fill": fill}))
        overlays.append(
            ("rounded_rectangle", [x0, y0, x1, y1], {"radius": 0.08 * w, "outline": dark, "width": lw})
        )
        label_cy = y0 + 0.38 * h
    else:  # frame
        md.rectangle([x0, y0, x1, y1], fill=255)
        inset = 0.12 * min(w, h)
        overlays.append(
            (
                "rectangle",
                [x0 + inset, y0 + inset, x1 - inset, y1 - inset],
                {"fill": (238, 234, 222), "outline": dark, "width": lw},
            )
        )
        overlays.append(("rectangle", [x0, y0, x1, y1], {"outline": dark, "width": lw}))

    surface = _paint(rgb, render["finish"], (x0, y0, x1, y1), size)
    paint = Image.fromarray(np.ascontiguousarray(surface), "RGB")
    canvas = Image.composite(paint, canvas, mask)
    draw = ImageDraw.Draw(canvas)
    for method, args, kwargs in overlays:
        getattr(draw, method)(args, **kwargs)

    # --- printed label ------------------------------------------------------------------------
    value_font = _font(max(10, round(0.11 * S)))
    prefix_font = _font(max(8, round(0.06 * S)))
    lines = [(render["prefix"], prefix_font)] if render["prefix"] else []
    lines.append((render["label"], value_font))
    boxes = [draw.textbbox((0, 0), text, font=font) for text, font in lines]
    gap = max(1, round(0.015 * S))
    pad = max(2, round(0.03 * S))
    text_w = max(b[2] - b[0] for b in boxes)
    text_h = sum(b[3] - b[1] for b in boxes) + gap * (len(lines) - 1)
    sw, sh = text_w + 2 * pad, text_h + 2 * pad
    sx0 = min(max(cx - sw / 2, 1), S - 1 - sw)
    sy0 = min(max(label_cy - sh / 2, 1), S - 1 - sh)
    draw.rounded_rectangle(
        [sx0, sy0, sx0 + sw, sy0 + sh], radius=pad, fill=(252, 251, 246), outline=(70, 70, 70), width=lw
    )
    ty = sy0 + pad
    for (text, font), b in zip(lines, boxes):
        tw = b[2] - b[0]
        if draw_text:
            draw.text((sx0 + (sw - tw) / 2 - b[0], ty - b[1]), text, font=font, fill=(20, 20, 24))
        ty += (b[3] - b[1]) + gap
    return canvas


def _png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


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
        row, render = _sample_row(seed, i)
        if with_images:
            image = _render(render, image_size, np.random.default_rng([seed, i, 1]))
            row["image"] = {"bytes": _png_bytes(image), "path": None}
        for name, values in columns.items():
            values.append(row[name])
    return Dataset.from_dict(columns, features=features)
