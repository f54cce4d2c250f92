"""Item data: the shared schema, loaders (Hub, local files, synthetic catalog) and bad-row accounting."""

from .catalog import generate_catalog
from .challenge import (
    DownloadReport,
    challenge_dataset,
    download_images,
    load_challenge_dataset,
    read_challenge_csv,
)
from .entities import (
    ALLOWED_UNITS,
    ENTITY_NAMES,
    ENTITY_UNIT_MAP,
    EntityValueError,
    EntityValueReport,
    ParsedEntityValue,
    SanityCheckError,
    check_prediction,
    entity_f1,
    format_prediction,
    normalize_entity_value,
    normalize_entity_values,
    parse_entity_value,
    sanity_check,
)
from .grocery import (
    grocery_classes,
    grocery_package_labels,
    grocery_package_rows,
    parse_grocery_information,
    parse_package_size,
)
from .loading import clean_items, item_splits, load_items, load_local_items, log_price_statistics
from .schema import ITEM_COLUMNS, SkipReport, normalize_item, parse_price

__all__ = [
    "ALLOWED_UNITS",
    "ENTITY_NAMES",
    "ENTITY_UNIT_MAP",
    "ITEM_COLUMNS",
    "DownloadReport",
    "EntityValueError",
    "EntityValueReport",
    "ParsedEntityValue",
    "SanityCheckError",
    "SkipReport",
    "challenge_dataset",
    "check_prediction",
    "clean_items",
    "download_images",
    "entity_f1",
    "format_prediction",
    "generate_catalog",
    "grocery_classes",
    "grocery_package_labels",
    "grocery_package_rows",
    "parse_grocery_information",
    "item_splits",
    "load_challenge_dataset",
    "load_items",
    "load_local_items",
    "log_price_statistics",
    "normalize_entity_value",
    "normalize_entity_values",
    "normalize_item",
    "parse_entity_value",
    "parse_package_size",
    "parse_price",
    "read_challenge_csv",
    "sanity_check",
]
