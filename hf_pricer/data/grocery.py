"""Entity-value rows from the Grocery Store Dataset's packaged products (real phone photos).

The dataset (Klasson et al., WACV 2019; MIT) has, per fine class, an `_Information.txt` whose
`Manufacturer and volume` line gives the package size, e.g. `Manufacturer and volume: ARLA KO , 1l`.
The classes of its `Packages` group (juice, milk, yoghurt, ...) become challenge rows: `1l` is an
`item_volume` of `"1.0 litre"`, `750g` an `item_weight` of `"750.0 gram"`, `3dl` `"3.0 decilitre"`.
Every photo of a class shares its label, and the dataset's own `train.txt` / `val.txt` / `test.txt` give
the splits (photos of one product appear in several splits).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from typing import Any

from .entities import (
    ENTITY_UNIT_MAP,
    EntityValueError,
    EntityValueReport,
    format_prediction,
    parse_entity_value,
)

logger = logging.getLogger(__name__)

__all__ = [
    "GROCERY_SPLITS",
    "grocery_classes",
    "grocery_package_labels",
    "grocery_package_rows",
    "parse_grocery_information",
    "parse_package_size",
]

GROCERY_SPLITS = ("train", "val", "test")
NO_SIZE_LINE = "no size line"
NOT_A_SIZE = "not a volume or weight"

# Packages name the manufacturer, fruit and vegetables the country: "Country and volume: Spain, ca 1.05kg".
_SIZE_KEYS = ("manufacturer and volume", "country and volume")
_ENERGY = re.compile(r"energi\s+ca\s+([0-9]+(?:[.,][0-9]+)?)\s*kilokalori", re.IGNORECASE)
#: grams or millilitres per unit of a package size
_GRAMS_OR_MILLILITRES = {"gram": 1.0, "kilogram": 1000.0, "millilitre": 1.0, "centilitre": 10.0,
                         "decilitre": 100.0, "litre": 1000.0}


def parse_package_size(information: str) -> tuple[str, str]:
    """`(entity_name, entity_value)` from the text of an `_Information.txt`.

    The size is the longest tail of the `Manufacturer and volume:` (or `Country and volume:`) line (after its colon or a comma) that
    reads as a value, so `"BRAND, INC. , 1,5 l"` is 1.5 litres; a leading `"ca"` is dropped.
    `"Manufacturer and volume: ALPRO , 750g"` → `("item_weight", "750.0 gram")`. Raises
    :class:`~hf_pricer.data.entities.EntityValueError` when there is no such line or its size is not a
    volume or weight.
    """
    for line in information.splitlines():
        key, _, rest = line.partition(":")
        if key.strip().lower() in _SIZE_KEYS:
            break
    else:
        raise EntityValueError(information[:80], NO_SIZE_LINE, detail=f"no '{_SIZE_KEYS[0]}:' line")
    # the whole text, then what follows each comma: the first that reads as a value is the size
    candidates = [rest] + [rest[i + 1 :] for i, char in enumerate(rest) if char == ","]
    for candidate in candidates:
        size = candidate.strip()
        size = size[3:] if size.lower().startswith("ca ") else size
        try:
            parsed = parse_entity_value(size)
            break
        except EntityValueError as failure:
            error = failure
    else:
        raise error  # the shortest candidate's reason: the one about the size itself
    if parsed is None:
        raise EntityValueError(rest.strip(), NOT_A_SIZE, detail="empty")
    for entity_name in ("item_volume", "item_weight"):
        if parsed.unit in ENTITY_UNIT_MAP[entity_name]:
            return entity_name, format_prediction(parsed.value, parsed.unit)
    raise EntityValueError(size, NOT_A_SIZE, detail=parsed.unit)


def parse_grocery_information(information: str) -> dict[str, float | None]:
    """Numbers from the text of an `_Information.txt`: `package_size` in grams or millilitres (see
    :func:`parse_package_size`; `"3dl"` → 300) and `energy_kcal` per 100 g (Packages only, the first
    `energi ca N kilokalori`); `None` where the text does not give them."""
    try:
        value, unit = parse_entity_value(parse_package_size(information)[1])
        size = value * _GRAMS_OR_MILLILITRES[unit]
    except (EntityValueError, KeyError):
        size = None
    energy = _ENERGY.search(information)
    return {"package_size": size, "energy_kcal": float(energy.group(1).replace(",", ".")) if energy else None}


def grocery_classes(root: str | os.PathLike) -> dict[int, dict[str, str]]:
    """Fine class id → `class_name`, `coarse_name`, `group` (`"Packages"`, `"Fruit"`, `"Vegetables"`) and
    the path of its `_Information.txt`, from the dataset's `classes.csv`."""
    root = os.fspath(root)
    classes = {}
    with open(os.path.join(root, "classes.csv"), newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            description = row["Product Description Path (str)"].lstrip("/")
            classes[int(row["Class ID (int)"])] = {
                "class_name": row["Class Name (str)"],
                "coarse_name": row["Coarse Class Name (str)"],
                "group": description.split("/")[1],
                "information": os.path.join(root, description.replace("_Description.txt", "_Information.txt")),
            }
    return classes


def _packages_classes(root: str) -> dict[int, dict[str, str]]:
    return {class_id: info for class_id, info in grocery_classes(root).items() if info["group"] == "Packages"}


def grocery_package_labels(
    root: str | os.PathLike, report: EntityValueReport | None = None
) -> dict[int, tuple[str, str]]:
    """Fine class id → `(entity_name, entity_value)` of every Packages class whose size parses.

    Classes whose `_Information.txt` is missing or unparseable are left out and counted in `report`.
    """
    root = os.fspath(root)
    report = EntityValueReport(name="grocery package labels") if report is None else report
    labels = {}
    for class_id, info in _packages_classes(root).items():
        try:
            with open(info["information"], encoding="utf-8") as file:
                labels[class_id] = parse_package_size(file.read())
            report.kept += 1
        except FileNotFoundError:
            report.add(NO_SIZE_LINE, row_id=info["class_name"], detail=f"no {info['information']}")
        except EntityValueError as error:
            report.add(error.reason, row_id=info["class_name"], detail=str(error.text))
    if report.skipped:
        logger.warning("%s", report.summary())
    return labels


def grocery_package_rows(
    root: str | os.PathLike, split: str = "train", report: EntityValueReport | None = None
) -> list[dict[str, Any]]:
    """The photos of `split` whose class has a label, as challenge rows.

    Columns: `index` (position in the split file), `image_link` (the photo's path), `group_id` (the coarse
    class, e.g. `"Juice"`), `entity_name`, `entity_value` and `class_name`. Pass the rows to
    :func:`~hf_pricer.data.challenge.challenge_dataset` for a dataset with images.
    """
    if split not in GROCERY_SPLITS:
        raise ValueError(f"split must be one of {GROCERY_SPLITS}, got {split!r}")
    root = os.fspath(root)
    classes = _packages_classes(root)
    labels = grocery_package_labels(root, report=report)
    rows = []
    with open(os.path.join(root, f"{split}.txt"), encoding="utf-8") as file:
        for index, line in enumerate(file):
            path, fine_id, _ = (part.strip() for part in line.split(","))
            if int(fine_id) not in labels:  # another group, or a class counted in `report`
                continue
            entity_name, entity_value = labels[int(fine_id)]
            rows.append(
                {
                    "index": index,
                    "image_link": os.path.join(root, path),
                    "group_id": classes[int(fine_id)]["coarse_name"],
                    "entity_name": entity_name,
                    "entity_value": entity_value,
                    "class_name": classes[int(fine_id)]["class_name"],
                }
            )
    return rows
