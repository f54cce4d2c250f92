"""Entity values as the Amazon ML Challenge 2024 defines them: units, parsing, formatting, checking.

A row asks for one entity (`entity_name`, e.g. `"item_weight"`) of the product in an image; the answer is
`"<number> <unit>"` with a unit from that entity's list in :data:`ENTITY_UNIT_MAP`, or `""` when the image
shows no value.

Canonical form
--------------
:func:`format_prediction` writes the shortest decimal that round-trips the float, always with a fractional
part and never in exponent notation, then one space and the full unit name: `"2.0 gram"`,
`"12.5 centimetre"`, `"0.0000001 kilogram"`. This is Python's `str(float)` except that exponents are
expanded, and it is the form the challenge's training labels use. :func:`check_prediction` also accepts
`"2 gram"` (the challenge's checker does), but the score compares strings, so only one spelling of a value
can match a ground truth: write predictions and labels in the canonical form.

Messy labels
------------
:func:`parse_entity_value` reads labels such as `"1.0 kilogram"`, `"500 gms"`, `"12 volts"`, `"5 feet"`,
`"3dl"`, `"16 fl. oz"`, `"1,5 l"` or `"[10.0, 20.0] centimetre"`: units are matched case-insensitively
through plurals, US spellings (meter → metre), feet → foot and common abbreviations (:data:`UNIT_ALIASES`);
with an `entity_name`, `"oz"` of an `item_volume` is a fluid ounce. A list or range of values keeps the
first value by default (`ranges="max"` keeps the largest, `ranges="reject"` refuses it). A decimal comma
is read as such unless it separates groups of three digits (`"1,000 ml"` is a thousand).
Empty labels mean "no value" and parse to `None`; anything unusable raises :class:`EntityValueError`,
whose `reason` is one of the `*` constants below. :func:`normalize_entity_values` does a whole column and
counts what it could not parse in an :class:`EntityValueReport`.

Checking
--------
:func:`sanity_check` is the challenge's output checker (also `hf-pricer sanity`); the challenge's score,
F1, is :func:`hf_pricer.metrics.entity_f1`.
"""

from __future__ import annotations

import csv
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from .schema import SkipReport

__all__ = [
    "ALLOWED_UNITS",
    "ENTITY_NAMES",
    "ENTITY_UNIT_MAP",
    "UNIT_ALIASES",
    "EntityValueError",
    "EntityValueReport",
    "ParsedEntityValue",
    "SanityCheckError",
    "check_prediction",
    "format_prediction",
    "normalize_entity_value",
    "normalize_entity_values",
    "parse_entity_value",
    "sanity_check",
]

#: Allowed units of each entity, as listed by the challenge.
ENTITY_UNIT_MAP: dict[str, tuple[str, ...]] = {
    "width": ("centimetre", "foot", "inch", "metre", "millimetre", "yard"),
    "depth": ("centimetre", "foot", "inch", "metre", "millimetre", "yard"),
    "height": ("centimetre", "foot", "inch", "metre", "millimetre", "yard"),
    "item_weight": ("gram", "kilogram", "microgram", "milligram", "ounce", "pound", "ton"),
    "maximum_weight_recommendation": ("gram", "kilogram", "microgram", "milligram", "ounce", "pound", "ton"),
    "voltage": ("kilovolt", "millivolt", "volt"),
    "wattage": ("kilowatt", "watt"),
    "item_volume": (
        "centilitre",
        "cubic foot",
        "cubic inch",
        "cup",
        "decilitre",
        "fluid ounce",
        "gallon",
        "imperial gallon",
        "litre",
        "microlitre",
        "millilitre",
        "pint",
        "quart",
    ),
}
ENTITY_NAMES: tuple[str, ...] = tuple(ENTITY_UNIT_MAP)
ALLOWED_UNITS: frozenset[str] = frozenset(unit for units in ENTITY_UNIT_MAP.values() for unit in units)

#: Spellings (lower case, dots removed) that mean each unit, besides its own name and regular plural.
UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "centimetre": ("cm", "cms", "centimeter", "centimeters"),
    "foot": ("ft", "feet", "'"),
    "inch": ("in", "inches", "ins", '"', "''"),
    "metre": ("m", "mtr", "mtrs", "meter", "meters"),
    "millimetre": ("mm", "millimeter", "millimeters"),
    "yard": ("yd", "yds"),
    "gram": ("g", "gm", "gms", "gr", "grm", "grams", "gramm", "gramme", "grammes"),
    "kilogram": ("kg", "kgs", "kilo", "kilos", "kilogramme", "kilogrammes"),
    "microgram": ("μg", "ug", "mcg"),
    "milligram": ("mg", "mgs"),
    "ounce": ("oz", "ozs"),
    "pound": ("lb", "lbs", "pounds"),
    "ton": ("tons",),
    "kilovolt": ("kv",),
    "millivolt": ("mv",),
    "volt": ("v", "vac", "vdc", "volts"),
    "kilowatt": ("kw",),
    "watt": ("w", "watts"),
    "centilitre": ("cl", "centiliter", "centiliters"),
    "cubic foot": ("cu ft", "ft3", "cubic feet", "cubic ft"),
    "cubic inch": ("cu in", "in3", "cubic inches", "cubic in"),
    "cup": ("cups",),
    "decilitre": ("dl", "deciliter", "deciliters"),
    "fluid ounce": ("fl oz", "floz", "fl ounce", "fluid ounces", "fl ozs"),
    "gallon": ("gal", "gals"),
    "imperial gallon": ("imp gal", "imperial gallons"),
    "litre": ("l", "lt", "ltr", "ltrs", "liter", "liters"),
    "microlitre": ("μl", "ul", "microliter", "microliters"),
    "millilitre": ("ml", "mls", "milliliter", "milliliters"),
    "pint": ("pt", "pts"),
    "quart": ("qt", "qts"),
}

# Reasons a label cannot be used (the `reason` of EntityValueError, the kinds of EntityValueReport).
NO_VALUE = "no value"
NO_UNIT = "no unit"
MALFORMED_NUMBER = "malformed number"
NEGATIVE_VALUE = "negative value"
UNKNOWN_UNIT = "unknown unit"
UNIT_NOT_ALLOWED = "unit not allowed for entity"
UNKNOWN_ENTITY = "unknown entity"
RANGE = "range of values"
# Reasons a prediction fails the challenge's format (check_prediction).
INVALID_FORMAT = "invalid format"
NOT_A_STRING = "not a string"

_UNIT_LOOKUP: dict[str, str] = {}
for _unit, _aliases in UNIT_ALIASES.items():
    for _alias in (_unit, f"{_unit}s", *_aliases):
        _UNIT_LOOKUP[_alias] = _unit
# Units whose meaning depends on the entity: an ounce of liquid is a fluid ounce.
_ENTITY_UNIT_FIXES = {("item_volume", "ounce"): "fluid ounce"}

_NUMBER = r"(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
_SINGLE = re.compile(rf"^(?P<sign>[-+]?)\s*(?P<number>{_NUMBER})\s*(?P<unit>.*)$")
_RANGE = re.compile(rf"^(?P<number>{_NUMBER})\s*(?:-|–|to)\s*(?P<second>{_NUMBER})\s*(?P<unit>.*)$")
_LIST = re.compile(r"^\[(?P<numbers>[^\]]*)\]\s*(?P<unit>.*)$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?(?:e[-+]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^\d+,\d+(?:e[-+]?\d+)?$")
_PREDICTION = re.compile(r"^(?P<number>\d+(?:\.\d+)?) (?P<unit>[a-z]+(?: [a-z]+)?)$")


class ParsedEntityValue(NamedTuple):
    """A value and its unit (one of :data:`ALLOWED_UNITS`); `str()` gives the canonical form."""

    value: float
    unit: str

    def __str__(self) -> str:
        return format_prediction(self.value, self.unit)


class EntityValueError(ValueError):
    """A label that cannot be read as an entity value; `reason` says why (e.g. `"unknown unit"`)."""

    def __init__(self, text: Any, reason: str, entity_name: str | None = None, detail: str | None = None):
        self.text, self.reason, self.entity_name, self.detail = text, reason, entity_name, detail
        where = f" for entity {entity_name!r}" if entity_name else ""
        super().__init__(
            f"cannot parse entity value {text!r}{where}: {reason}" + (f" ({detail})" if detail else "")
        )


def is_empty_value(value: Any) -> bool:
    """`None`, NaN (pandas' missing value) or `""`."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, str) and not value)
    )


def format_prediction(value: float, unit: str, entity_name: str | None = None) -> str:
    """The canonical `"<number> <unit>"` string: `format_prediction(2, "gram") == "2.0 gram"`.

    Raises `ValueError` for a unit that is not allowed (for `entity_name`, when given) and for a negative,
    infinite or NaN value.
    """
    allowed = _allowed_units(entity_name) if entity_name is not None else ALLOWED_UNITS
    if unit not in allowed:
        where = f" for entity {entity_name!r}" if entity_name else ""
        raise ValueError(f"unit {unit!r} is not allowed{where}; allowed: {sorted(allowed)}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"an entity value must be a finite number >= 0, got {value!r}")
    return f"{np.format_float_positional(value + 0.0, unique=True, trim='0')} {unit}"  # + 0.0: no "-0.0"


def _allowed_units(entity_name: str) -> tuple[str, ...]:
    try:
        return ENTITY_UNIT_MAP[entity_name]
    except KeyError:
        raise ValueError(
            f"unknown entity_name {entity_name!r}; expected one of {list(ENTITY_NAMES)}"
        ) from None


def _to_float(number: str, text: Any, entity_name: str | None) -> float:
    if "," in number:
        if _THOUSANDS.match(number):
            number = number.replace(",", "")
        elif _DECIMAL_COMMA.match(number):
            number = number.replace(",", ".")
        else:
            raise EntityValueError(text, MALFORMED_NUMBER, entity_name, number)
    value = float(number)
    if not math.isfinite(value):
        raise EntityValueError(text, MALFORMED_NUMBER, entity_name, number)
    return value


def _resolve_unit(unit: str, text: Any, entity_name: str | None) -> str:
    unit = re.sub(r"\s+", " ", unit.replace(".", " ")).strip()
    if not unit:
        raise EntityValueError(text, NO_UNIT, entity_name)
    resolved = _UNIT_LOOKUP.get(unit) or _UNIT_LOOKUP.get(unit.replace(" ", ""))
    if resolved is None:
        raise EntityValueError(text, UNKNOWN_UNIT, entity_name, unit)
    if entity_name is not None:
        allowed = ENTITY_UNIT_MAP[entity_name]
        resolved = _ENTITY_UNIT_FIXES.get((entity_name, resolved), resolved)
        if resolved not in allowed:
            raise EntityValueError(
                text, UNIT_NOT_ALLOWED, entity_name, f"{resolved}; allowed: {', '.join(allowed)}"
            )
    return resolved


def parse_entity_value(
    text: Any,
    entity_name: str | None = None,
    *,
    ranges: Literal["first", "max", "reject"] = "first",
) -> ParsedEntityValue | None:
    """Read a label such as `"500 gms"` as `ParsedEntityValue(500.0, "gram")`.

    Returns `None` for an empty label (`""`, `None`, NaN: the image shows no value). Raises
    :class:`EntityValueError` (a `ValueError`) when the label has no number, no or an unknown unit, a
    negative or malformed number, a unit not allowed for `entity_name`, or an unknown `entity_name`.
    A list or range of values (`"[10.0, 20.0] cm"`, `"100-240 V"`) keeps its first value, its largest
    (`ranges="max"`) or is refused (`ranges="reject"`).
    """
    if ranges not in ("first", "max", "reject"):
        raise ValueError(f"ranges must be 'first', 'max' or 'reject', got {ranges!r}")
    if entity_name is not None and entity_name not in ENTITY_UNIT_MAP:
        raise EntityValueError(
            text, UNKNOWN_ENTITY, entity_name, f"expected one of {', '.join(ENTITY_NAMES)}"
        )
    if is_empty_value(text) or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        raise EntityValueError(text, MALFORMED_NUMBER, entity_name, f"not a string but {type(text).__name__}")
    label = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()

    if match := _LIST.match(label):
        numbers = [n for n in re.split(r",\s*", match["numbers"].strip()) if n]
        if not numbers or not all(re.fullmatch(_NUMBER, n) for n in numbers):
            raise EntityValueError(text, MALFORMED_NUMBER, entity_name, match["numbers"])
        values = [_to_float(n, text, entity_name) for n in numbers]
    elif match := _RANGE.match(label):
        values = [
            _to_float(match["number"], text, entity_name),
            _to_float(match["second"], text, entity_name),
        ]
    elif match := _SINGLE.match(label):
        values = [_to_float(match["number"], text, entity_name)]
        if match["sign"] == "-" and values[0] != 0:
            raise EntityValueError(text, NEGATIVE_VALUE, entity_name)
    else:
        raise EntityValueError(text, NO_VALUE, entity_name)
    if len(values) > 1 and ranges == "reject":
        raise EntityValueError(text, RANGE, entity_name)
    unit = _resolve_unit(match["unit"], text, entity_name)
    return ParsedEntityValue(max(values) if ranges == "max" else values[0], unit)


def normalize_entity_value(
    text: Any, entity_name: str | None = None, *, ranges: Literal["first", "max", "reject"] = "first"
) -> str:
    """The canonical string of a label (`"500 gms"` → `"500.0 gram"`), `""` for an empty one.

    Raises :class:`EntityValueError` like :func:`parse_entity_value`.
    """
    parsed = parse_entity_value(text, entity_name, ranges=ranges)
    return "" if parsed is None else str(parsed)


class EntityValueReport(SkipReport):
    """Counts labels that could not be parsed, by reason, and keeps the first `n_examples` of each.

    `kept` counts parsed labels (empty ones included), `examples[reason]` lists offending labels.
    """

    def __init__(self, name: str = "entity values", log_first: int = 5, n_examples: int = 5):
        super().__init__(name=name, log_first=log_first)
        self.n_examples = n_examples
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, row_id: str | None = None, detail: str | None = None) -> None:
        super().add(reason, row_id=row_id, detail=detail)
        examples = self.examples.setdefault(reason.split(" (", 1)[0], [])
        if detail is not None and len(examples) < self.n_examples:
            examples.append(detail)

    def summary(self) -> str:
        def described(reason: str, count: int) -> str:
            examples = self.examples.get(reason)
            return f"{count} {reason}" + (f" (e.g. {', '.join(map(repr, examples))})" if examples else "")

        reasons = "; ".join(described(reason, count) for reason, count in self.counts.most_common())
        return f"{self.name}: parsed {self.kept}, unparseable {self.skipped}" + (
            f" ({reasons})" if reasons else ""
        )

    def __repr__(self) -> str:
        return f"EntityValueReport({self.summary()})"


def normalize_entity_values(
    texts: Iterable[Any],
    entity_names: Iterable[str | None] | None = None,
    *,
    ids: Iterable[Any] | None = None,
    ranges: Literal["first", "max", "reject"] = "first",
    report: EntityValueReport | None = None,
) -> tuple[list[str | None], EntityValueReport]:
    """Canonical strings of a column of labels: `""` for empty ones, `None` for unparseable ones.

    Each unparseable label is counted in the returned report (by reason, with the label and row id);
    `entity_names`, when given, is the entity of each row and restricts its units.
    """
    texts = list(texts)
    names = [None] * len(texts) if entity_names is None else list(entity_names)
    row_ids = list(range(len(texts))) if ids is None else list(ids)
    if not len(names) == len(row_ids) == len(texts):
        raise ValueError(
            f"texts, entity_names and ids must have the same length, got {len(texts)}, {len(names)}, {len(row_ids)}"
        )
    report = EntityValueReport() if report is None else report
    values: list[str | None] = []
    for text, name, row_id in zip(texts, names, row_ids):
        try:
            values.append(normalize_entity_value(text, name, ranges=ranges))
            report.kept += 1
        except EntityValueError as error:
            values.append(None)
            report.add(
                error.reason, row_id=str(row_id), detail=repr(text) if not isinstance(text, str) else text
            )
    return values, report


def check_prediction(prediction: Any, entity_name: str | None) -> str | None:
    """`None` when `prediction` is a valid answer for `entity_name`, else the reason it is not.

    Valid: empty (`""`, `None`, NaN) or exactly `"<digits>[.<digits>] <unit>"` with one space and a unit
    allowed for the entity (any of :data:`ALLOWED_UNITS` when `entity_name` is None). This is stricter than
    the challenge's checker, which also lets through signs, extra spaces and misspelled units (`"meter"`)
    that can never equal a ground truth.
    """
    if entity_name is not None and entity_name not in ENTITY_UNIT_MAP:
        return f"{UNKNOWN_ENTITY} ({entity_name!r})"
    if is_empty_value(prediction):
        return None
    if not isinstance(prediction, str):
        return f"{NOT_A_STRING} ({type(prediction).__name__}: {prediction!r})"
    match = _PREDICTION.match(prediction)
    if match is None:
        return f"{INVALID_FORMAT} ({prediction!r} is not '<number> <unit>')"
    if entity_name is None:
        return None if match["unit"] in ALLOWED_UNITS else f"{UNKNOWN_UNIT} ({match['unit']!r})"
    allowed = ENTITY_UNIT_MAP[entity_name]
    if match["unit"] not in allowed:
        return f"{UNIT_NOT_ALLOWED} ({match['unit']!r} for {entity_name}; allowed: {', '.join(allowed)})"
    return None


class SanityCheckError(ValueError):
    """An output file that the challenge would reject; the message lists every problem found."""


def _read_csv(filename: str | os.PathLike, required: Sequence[str]) -> list[dict[str, str]]:
    path = os.fspath(filename)
    if not path.lower().endswith(".csv"):
        raise SanityCheckError(f"{path}: only .csv files are accepted")
    if not os.path.isfile(path):
        raise SanityCheckError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in required if c not in columns]
        if missing:
            raise SanityCheckError(f"{path}: missing column(s) {missing}; found {columns}")
        reader.fieldnames = columns
        return [
            {k: (v or "").strip() if k == "index" else (v or "") for k, v in row.items()} for row in reader
        ]


def _examples(values: Iterable[Any], limit: int = 10) -> str:
    values = sorted(values, key=lambda v: (len(str(v)), str(v)))
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")


def sanity_check(test_filename: str | os.PathLike, output_filename: str | os.PathLike) -> dict[str, int]:
    """Check an output CSV (`index, prediction`) against the test CSV it answers, as the challenge does.

    Every test `index` must be answered exactly once, no other index may appear, and every prediction must
    pass :func:`check_prediction` for its row's `entity_name` (when the test file has no `entity_name`
    column, any allowed unit is accepted). Raises :class:`SanityCheckError` listing all problems; returns
    `{"rows": ..., "empty": ...}` when the file is fine.
    """
    tests = _read_csv(test_filename, ["index"])
    outputs = _read_csv(output_filename, ["index", "prediction"])
    entity_of = {row["index"]: row.get("entity_name") for row in tests}
    problems = []
    if len(entity_of) != len(tests):
        problems.append(f"the test file repeats indices (test file {os.fspath(test_filename)})")
    seen: dict[str, int] = {}
    for row in outputs:
        seen[row["index"]] = seen.get(row["index"], 0) + 1
    if missing := set(entity_of) - set(seen):
        problems.append(f"{len(missing)} missing index(es): {_examples(missing)}")
    if extra := set(seen) - set(entity_of):
        problems.append(f"{len(extra)} extra index(es) not in the test file: {_examples(extra)}")
    if repeated := {index for index, count in seen.items() if count > 1}:
        problems.append(f"{len(repeated)} index(es) answered more than once: {_examples(repeated)}")
    invalid = []
    for row in outputs:
        # an extra index (reported above) or a test file without entity_name: any allowed unit
        reason = check_prediction(row["prediction"], entity_of.get(row["index"]) or None)
        if reason is not None:
            invalid.append(f"index {row['index']}: {reason}")
    if invalid:
        problems.append(
            f"{len(invalid)} invalid prediction(s): "
            + "; ".join(invalid[:10])
            + (" ..." if len(invalid) > 10 else "")
        )
    if problems:
        raise SanityCheckError(
            f"{os.fspath(output_filename)} fails the sanity check:\n- " + "\n- ".join(problems)
        )
    return {"rows": len(outputs), "empty": sum(not row["prediction"] for row in outputs)}
