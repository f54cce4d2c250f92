"""The item schema every price model shares, and the validation that keeps bad rows out.

An item has `title`, `text` (the description), `category`, `price` (dollars), `id`, and optionally
`image` (a path, URL, bytes or PIL image) and `details` (a JSON string of attributes). Columns of the
source that the schema does not name are kept as they are.

Sources name things differently; :func:`normalize_item` maps the common spellings onto the schema
(`summary`/`full`/`description` → `text`, `image_url`/`image_path` → `image`) and decides whether
the row is usable. Unusable rows are never dropped silently: each one is counted by reason in a
:class:`SkipReport`, which logs it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from typing import Any

logger = logging.getLogger(__name__)

ITEM_COLUMNS = ("id", "title", "text", "category", "price", "image", "details")
TEXT_SOURCES = ("text", "summary", "full", "description")
IMAGE_SOURCES = ("image", "image_url", "image_path", "image_link")

MISSING_PRICE = "missing price"
NAN_PRICE = "NaN or infinite price"
NON_NUMERIC_PRICE = "non-numeric price"
NEGATIVE_PRICE = "negative price"
ZERO_PRICE = "zero price"
IMPLAUSIBLE_PRICE = "implausible price"
EMPTY_TEXT = "empty text"
MALFORMED_ROW = "malformed row"
UNDECODABLE_ROW = "undecodable text"

# Kept rows that were changed or are worth knowing about (`SkipReport.notes`).
DECIMAL_COMMA = "decimal comma price"
DUPLICATE_ID = "duplicate id"
CAST_TO_STRING = "value cast to string"

#: Prices outside `[low, high]` dollars are skipped as implausible (`price_range=None` keeps every positive one).
DEFAULT_PRICE_RANGE = (0.01, 1_000_000.0)

_CURRENCY = re.compile(r"^\s*(?:US)?\$?\s*([-+]?[0-9.,]*[0-9](?:e[-+]?[0-9]+)?)\s*(?:USD)?\s*$", re.IGNORECASE)
_PLAIN = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?$", re.IGNORECASE)
_THOUSANDS = re.compile(r"^[-+]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")  # 1,299 and 1,299.50
_DECIMAL_COMMA = re.compile(r"^[-+]?(?:[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+),[0-9]{1,2}$")  # 12,50 and 1.299,50


def _number(text: str) -> tuple[float | None, bool]:
    """`(value, decimal_comma)` of a price string's number by the parsing rule of :func:`parse_price`."""
    if _PLAIN.match(text):
        return float(text), False
    if _THOUSANDS.match(text):
        return float(text.replace(",", "")), False
    if _DECIMAL_COMMA.match(text):
        return float(text.replace(".", "").replace(",", ".")), True
    return None, False


def _parse_price(value: Any, price_range: tuple[float, float] | None) -> tuple[float | None, str | None, str | None]:
    """`(price, skip_reason, note)`: as :func:`parse_price`, and :data:`DECIMAL_COMMA` when that rule was used."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, MISSING_PRICE, None
    if isinstance(value, bool):
        return None, NON_NUMERIC_PRICE, None
    note = None
    if isinstance(value, (int, float)):
        price = float(value)
    elif isinstance(value, str):
        match = _CURRENCY.match(value)
        price, decimal_comma = _number(match.group(1)) if match else (None, False)
        if price is None:
            lowered = value.strip().lower()
            if lowered in ("nan", "inf", "-inf", "infinity", "-infinity"):
                return None, NAN_PRICE, None
            return None, NON_NUMERIC_PRICE, None
        note = DECIMAL_COMMA if decimal_comma else None
    else:
        try:
            price = float(value)  # numpy scalars, Decimal
        except (TypeError, ValueError):
            return None, NON_NUMERIC_PRICE, None
    if math.isnan(price) or math.isinf(price):
        return None, NAN_PRICE, None
    if price < 0:
        return None, NEGATIVE_PRICE, None
    if price == 0:
        return None, ZERO_PRICE, None
    if price_range is not None and not price_range[0] <= price <= price_range[1]:
        return None, f"{IMPLAUSIBLE_PRICE} (outside {price_range[0]:g}..{price_range[1]:g})", None
    return price, None, note


def parse_price(
    value: Any, price_range: tuple[float, float] | None = DEFAULT_PRICE_RANGE
) -> tuple[float | None, str | None]:
    """`(price, None)` for a usable price, `(None, reason)` otherwise.

    Numbers and numeric strings are accepted, with an optional `$`/`US$` and `USD`; booleans are not numbers
    here. A comma followed by 3 digits separates thousands (`"$1,299.00"` is 1299.0); a comma followed by 1 or
    2 digits at the end is a decimal comma (`"12,50"` is 12.5, `"1.299,50"` is 1299.5); anything else with
    commas (`"1,2,3"`, `"12,5000"`) is non-numeric. Prices outside `price_range` (dollars, inclusive) are
    implausible.
    """
    price, reason, _ = _parse_price(value, price_range)
    return price, reason


def item_text(item: dict, fields) -> str:
    """The model text of an item: its non-empty `fields`, joined by newlines."""
    return "\n".join(str(item[field]) for field in fields if item.get(field))


def _first_text(row: dict, names: tuple[str, ...]) -> str:
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _normalize(
    row: dict, index: int | None, id_prefix: str, price_range: tuple[float, float] | None
) -> tuple[dict, str | None, str | None]:
    """`(item, skip_reason, note)`; see :func:`normalize_item`."""
    if not isinstance(row, dict):
        return {"id": f"{id_prefix}-{index}", "price": None}, MALFORMED_ROW, None
    item = dict(row)
    item["title"] = str(row.get("title") or "")
    item["text"] = _first_text(row, TEXT_SOURCES)
    item["category"] = str(row.get("category") or "")
    item["id"] = str(row["id"]) if row.get("id") not in (None, "") else f"{id_prefix}-{index}"
    if "image" not in row:
        for name in IMAGE_SOURCES[1:]:
            if row.get(name):
                item["image"] = row[name]
                break
    details = row.get("details")
    if details is not None and not isinstance(details, str):
        item["details"] = json.dumps(details, default=str)
    price, reason, note = _parse_price(row.get("price"), price_range)
    item["price"] = price
    if reason is None and not (item["title"].strip() or item["text"].strip()):
        reason = EMPTY_TEXT
    return item, reason, note


def normalize_item(
    row: dict,
    index: int | None = None,
    id_prefix: str = "item",
    *,
    price_range: tuple[float, float] | None = DEFAULT_PRICE_RANGE,
) -> tuple[dict, str | None]:
    """Map one source row onto the item schema. Returns `(item, skip_reason)`; `skip_reason` is None when usable.

    The item keeps every source column and sets the schema ones: `text` from the first non-empty of
    `text`/`summary`/`full`/`description`, `image` from `image`/`image_url`/`image_path`/`image_link`,
    `details` as a JSON string, `id` from the row or `"{id_prefix}-{index}"`, `price` by :func:`parse_price`.
    A row needs a usable price and a title or a text.
    """
    item, reason, _ = _normalize(row, index, id_prefix, price_range)
    return item, reason


class SkipReport:
    """Counts skipped rows by reason and logs them, and counts notes on kept rows (e.g. a decimal comma).

    The first `log_first` of each reason are logged one by one (with the row id and a detail such as
    the offending price and where it is), later ones at every power of ten, and :meth:`summary` gives
    the totals. A reason may carry details in parentheses (`"image too large (9000×9000 pixels)"`); it is
    counted under the part before them. Notes (:meth:`note`) are logged and counted the same way in `notes`.
    """

    message = "skipped row {row_id}: {reason}"
    progress = "{count} rows skipped so far for {kind}"

    def __init__(self, name: str = "items", log_first: int = 5):
        self.name = name
        self.log_first = log_first
        self.counts: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        self.kept = 0

    def _log(self, counter: Counter, reason: str, message: str, detail: str | None, progress: str) -> None:
        kind = reason.split(" (", 1)[0]
        counter[kind] += 1
        count = counter[kind]
        if count <= self.log_first:
            suffix = f" [{detail}]" if detail else ""
            logger.warning("%s: %s%s", self.name, message, suffix)
        elif math.log10(count).is_integer():
            logger.warning("%s: %s", self.name, progress.format(count=count, kind=kind))

    def add(self, reason: str, row_id: str | None = None, detail: str | None = None) -> None:
        self._log(self.counts, reason, self.message.format(row_id=row_id, reason=reason), detail, self.progress)

    def note(self, kind: str, row_id: str | None = None, detail: str | None = None) -> None:
        """Count something about a kept row (e.g. :data:`DECIMAL_COMMA`, :data:`DUPLICATE_ID`)."""
        self._log(self.notes, kind, f"row {row_id}: {kind}", detail, "{count} rows so far with {kind}")

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.counts.most_common())
        notes = ", ".join(f"{count} {kind}" for kind, count in self.notes.most_common())
        return (
            f"{self.name}: kept {self.kept} rows, skipped {self.skipped}"
            + (f" ({reasons})" if reasons else "")
            + (f"; noted {notes}" if notes else "")
        )

    def check_not_empty(self) -> None:
        if self.kept == 0 and self.skipped == 0:
            raise ValueError(f"{self.name}: no rows")
        if self.kept == 0:
            raise ValueError(
                f"{self.name}: every row was rejected ({self.skipped} rows: {dict(self.counts)}); "
                "check the `price` and `text` columns"
            )

    def __repr__(self) -> str:
        return f"SkipReport({self.summary()})"
