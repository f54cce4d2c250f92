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
EMPTY_TEXT = "empty text"
MALFORMED_ROW = "malformed row"

_CURRENCY = re.compile(r"^\s*(?:US)?\$?\s*([-+]?[0-9][0-9,]*(?:\.[0-9]+)?|[-+]?\.[0-9]+)\s*(?:USD)?\s*$", re.I)


def parse_price(value: Any) -> tuple[float | None, str | None]:
    """`(price, None)` for a usable price, `(None, reason)` otherwise.

    Numbers and numeric strings are accepted, including `"$1,299.00"`; booleans are not numbers here.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, MISSING_PRICE
    if isinstance(value, bool):
        return None, NON_NUMERIC_PRICE
    if isinstance(value, (int, float)):
        price = float(value)
    elif isinstance(value, str):
        match = _CURRENCY.match(value)
        if match is None:
            lowered = value.strip().lower()
            if lowered in ("nan", "inf", "-inf", "infinity", "-infinity"):
                return None, NAN_PRICE
            return None, NON_NUMERIC_PRICE
        price = float(match.group(1).replace(",", ""))
    else:
        try:
            price = float(value)  # numpy scalars, Decimal
        except (TypeError, ValueError):
            return None, NON_NUMERIC_PRICE
    if math.isnan(price) or math.isinf(price):
        return None, NAN_PRICE
    if price < 0:
        return None, NEGATIVE_PRICE
    if price == 0:
        return None, ZERO_PRICE
    return price, None


def item_text(item: dict, fields) -> str:
    """The model text of an item: its non-empty `fields`, joined by newlines."""
    return "\n".join(str(item[field]) for field in fields if item.get(field))


def _first_text(row: dict, names: tuple[str, ...]) -> str:
    for name in names:
        value = row.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def normalize_item(row: dict, index: int | None = None, id_prefix: str = "item") -> tuple[dict, str | None]:
    """Map one source row onto the item schema. Returns `(item, skip_reason)`; `skip_reason` is None when usable.

    The item keeps every source column and sets the schema ones: `text` from the first non-empty of
    `text`/`summary`/`full`/`description`, `image` from `image`/`image_url`/`image_path`/`image_link`,
    `details` as a JSON string, `id` from the row or `"{id_prefix}-{index}"`.
    """
    if not isinstance(row, dict):
        return {"id": f"{id_prefix}-{index}", "price": None}, MALFORMED_ROW
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
    price, reason = parse_price(row.get("price"))
    item["price"] = price
    if reason is None and not item["text"].strip():
        reason = EMPTY_TEXT
    return item, reason


class SkipReport:
    """Counts skipped rows by reason and logs them.

    The first `log_first` of each reason are logged one by one (with the row id and a detail such as
    the offending price), later ones at every power of ten, and :meth:`summary` gives the totals.
    A reason may carry details in parentheses (`"image too large (9000×9000 pixels)"`); it is counted
    under the part before them.
    """

    message = "skipped row {row_id}: {reason}"
    progress = "{count} rows skipped so far for {kind}"

    def __init__(self, name: str = "items", log_first: int = 5):
        self.name = name
        self.log_first = log_first
        self.counts: Counter[str] = Counter()
        self.kept = 0

    def add(self, reason: str, row_id: str | None = None, detail: str | None = None) -> None:
        kind = reason.split(" (", 1)[0]
        self.counts[kind] += 1
        count = self.counts[kind]
        if count <= self.log_first:
            suffix = f" [{detail}]" if detail else ""
            logger.warning("%s: %s%s", self.name, self.message.format(row_id=row_id, reason=reason), suffix)
        elif math.log10(count).is_integer():
            logger.warning("%s: %s", self.name, self.progress.format(count=count, kind=kind))

    @property
    def skipped(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.counts.most_common())
        return f"{self.name}: kept {self.kept} rows, skipped {self.skipped}" + (f" ({reasons})" if reasons else "")

    def check_not_empty(self) -> None:
        if self.kept == 0:
            raise ValueError(
                f"{self.name}: every row was rejected ({self.skipped} rows: {dict(self.counts)}); "
                "check the `price` and `text` columns"
            )

    def __repr__(self) -> str:
        return f"SkipReport({self.summary()})"
