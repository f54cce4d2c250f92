"""Item data: the shared schema, loaders (Hub, local files, synthetic catalog) and bad-row accounting."""

from .catalog import generate_catalog
from .loading import clean_items, item_splits, load_items, load_local_items, log_price_statistics
from .schema import ITEM_COLUMNS, SkipReport, normalize_item, parse_price

__all__ = [
    "ITEM_COLUMNS",
    "SkipReport",
    "clean_items",
    "generate_catalog",
    "item_splits",
    "load_items",
    "load_local_items",
    "log_price_statistics",
    "normalize_item",
    "parse_price",
]
