"""The tables of the synthetic catalog's generative model (:mod:`hf_pricer.data.catalog`): data only.

Categories with their nouns, drawn shape, base price, entity, units and materials; brands and their price
tiers; finishes and colours; the price coefficients; the listing-text templates; the label wording. The
module docstring of :mod:`hf_pricer.data.catalog` says how a row is drawn from them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ADJECTIVES",
    "BRANDS",
    "CATEGORIES",
    "CLOSERS",
    "ENTITY_UNITS",
    "FEATURE_TEMPLATES",
    "FINISHES",
    "FINISH_EFFECT",
    "FINISH_PROBS",
    "IMAGE_FACTORS",
    "IMAGE_ONLY_WORDS",
    "INTRO_TEMPLATES",
    "LABEL_PREFIXES",
    "METALLIC_COLOURS",
    "NOISE_SD",
    "PLAIN_COLOURS",
    "PRICE_COEF",
    "PRICE_RANGE",
    "SIZE_RANGE",
    "STANDARD_UNIT",
    "TEXT_FACTORS",
    "TIERS",
    "TIER_EFFECT",
    "TIER_PROBS",
    "TITLE_TEMPLATES",
    "TO_STANDARD_UNIT",
    "UNIT_ABBREVIATIONS",
]

# --------------------------------------------------------------------------------------------
# Units and labels
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

#: Factor from each unit to the standard unit of its entity (gram, millilitre, volt, watt, centimetre).
TO_STANDARD_UNIT: dict[str, float] = {
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
#: The standard unit of each entity, in which ``attr_quantity_std`` is given.
STANDARD_UNIT = {
    "item_weight": "gram",
    "item_volume": "millilitre",
    "voltage": "volt",
    "wattage": "watt",
    "width": "centimetre",
    "height": "centimetre",
    "depth": "centimetre",
}

#: The words printed above the value on the label, one drawn per row ("" prints the value alone).
LABEL_PREFIXES: dict[str, tuple[str, ...]] = {
    "item_weight": ("NET WT", "NET WEIGHT", ""),
    "item_volume": ("NET VOL", "CONTENTS", ""),
    "voltage": ("", "OUTPUT"),
    "wattage": ("", "POWER"),
    "width": ("WIDTH", "W"),
    "height": ("HEIGHT", "H"),
    "depth": ("DEPTH", "D"),
}

# --------------------------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------------------------

#: Each category: nouns, drawn shape, base price ($), its entities as (entity, probability) pairs, the
#: reference quantity in the standard unit, units as unit -> (probability, printed values), material
#: phrases as (phrase, premium) and features.
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

# --------------------------------------------------------------------------------------------
# Brands, finishes and colours
# --------------------------------------------------------------------------------------------

#: Brand names of each price tier.
BRANDS: dict[str, list[str]] = {
    "budget": ["ValuMart", "EconoLine", "Basix", "Thriftwell", "SaveRite"],
    "standard": ["Acme", "Northfield", "HomeCraft", "Everly", "Brightway"],
    "premium": ["Zenith", "Aurelia", "Kestrel", "Lumina"],
    "luxury": ["Maison Verre", "Regalis", "Obsidian & Co", "Castellane"],
}
#: Brand tiers and how often each is drawn.
TIERS = ("budget", "standard", "premium", "luxury")
TIER_PROBS = (0.30, 0.35, 0.25, 0.10)
#: Additive effect of the brand tier on log(price).
TIER_EFFECT = {"budget": -0.40, "standard": 0.0, "premium": 0.35, "luxury": 0.80}

#: Finishes of the product surface and how often each is drawn.
FINISHES = ("matte", "glossy", "metallic")
FINISH_PROBS = (0.45, 0.35, 0.20)
#: Additive effect of the finish on log(price).
FINISH_EFFECT = {"matte": 0.0, "glossy": 0.12, "metallic": 0.45}
#: Body colours (RGB) of matte and glossy products.
PLAIN_COLOURS: dict[str, tuple[int, int, int]] = {
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
#: Body colours (RGB) of metallic products.
METALLIC_COLOURS: dict[str, tuple[int, int, int]] = {
    "gold": (212, 175, 55),
    "silver": (192, 194, 200),
    "rose gold": (205, 140, 130),
    "bronze": (165, 110, 55),
}

#: Words that describe image-only attributes; none of them ever appears in title/text/details.
IMAGE_ONLY_WORDS = tuple(PLAIN_COLOURS) + tuple(METALLIC_COLOURS) + FINISHES

# --------------------------------------------------------------------------------------------
# Price model
# --------------------------------------------------------------------------------------------

#: Coefficients of the price formula (module docstring of :mod:`hf_pricer.data.catalog`).
PRICE_COEF = {"premium_material": 0.40, "n_features": 0.10, "quantity_rel": 0.60, "size": 1.20}
#: Standard deviation of the log-price noise.
NOISE_SD = 0.18
#: Drawn size of the product: fraction of the canvas taken by its longer side, uniform in this range.
SIZE_RANGE = (0.45, 0.85)
#: Prices are clipped to this range (dollars).
PRICE_RANGE = (2.0, 2000.0)

# --------------------------------------------------------------------------------------------
# Ground-truth factor columns
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Listing text
# --------------------------------------------------------------------------------------------

#: Words that may qualify the product noun in a title.
ADJECTIVES = [
    "Signature",
    "Essential",
    "Modern",
    "Heritage",
    "Everyday Plus",
    "Studio",
    "Select",
    "Original",
]

#: Title, first sentence, feature sentence and closing sentence of the listing (placeholders in braces).
TITLE_TEMPLATES = (
    "{brand} {material} {noun}",
    "{brand} {adjective} {material} {noun}",
    "{material} {noun} by {brand}",
    "{brand} {noun}, {material}, {feature}",
    "{brand} {adjective} {noun} - {material}",
    "{brand} {material} {noun} with {feature}",
)
INTRO_TEMPLATES = (
    "The {brand} {material_l} {noun_l} is designed for everyday use.",
    "Meet the {material_l} {noun_l} from {brand}.",
    "{brand} brings you {article} {material_l} {noun_l} built to last.",
    "This {material_l} {noun_l} from {brand} combines quality with thoughtful design.",
    "Upgrade your routine with the {brand} {adjective_l} {material_l} {noun_l}.",
)
FEATURE_TEMPLATES = (
    "It features {features}.",
    "Highlights include {features}.",
    "Key features: {features}.",
    "You get {features} in one package.",
)
CLOSERS = (
    "A great choice for home, office or gifting.",
    "Backed by {brand} customer support.",
    "Ships in protective packaging.",
    "Loved by customers for its reliability.",
    "Easy to use straight out of the box.",
    "Designed and tested by the {brand} team.",
)
