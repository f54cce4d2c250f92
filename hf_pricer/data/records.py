"""Labelled image records (JSON), the data of the embedding classifiers and the dual-embedding regressor:
validated, and where they come from.

A record is a JSON object with an image path (`image` or `image_path`, relative to the JSON file's folder
unless absolute), the level-1 label (`company`), the level-2 label (`model`) and one number per target, e.g.

```json
[{"image_path": "img/0001.jpg", "company": "Straumann", "model": "BLT", "length": 10.0, "diameter": 4.1}]
```

[`load_records`] checks every record (labels are non-empty strings, targets parse as finite numbers, the image
exists and decodes, via [`hf_pricer.data.images.check_image`]) and counts the ones it skips by reason in a
[`SkipReport`], which logs them; it never raises on a bad record. [`save_json`] writes results with NumPy and
torch values converted. [`write_catalog_json`] materialises the embedded synthetic catalog in this format (the
recipes' offline default) and [`grocery_records`] converts the Grocery Store Dataset (benchmarks).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from .files import UNDECODABLE, DataFileError, has_undecodable, read_json_document
from .grocery import grocery_classes, parse_grocery_information
from .images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from .images import check_image as check_image_file
from .schema import SkipReport

logger = logging.getLogger(__name__)

LABEL_FIELDS = ("company", "model")
IMAGE_KEYS = ("image", "image_path")

MALFORMED_RECORD = "malformed record"
MISSING_FIELD = "missing field"
EMPTY_STRING = "empty string"
NON_NUMERIC_TARGET = "non-numeric target"
NON_FINITE_TARGET = "non-finite target"
IMAGE_NOT_FOUND = "image file not found"
UNKNOWN_LABEL = "unknown label"


def _parse_target(value: Any) -> tuple[float | None, str | None]:
    if value is None:
        return None, MISSING_FIELD
    if isinstance(value, str):
        if not value.strip():
            return None, EMPTY_STRING
        try:
            number = float(value)
        except ValueError:
            return None, NON_NUMERIC_TARGET
    elif isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None, NON_NUMERIC_TARGET
    else:
        number = float(value)
    if not math.isfinite(number):
        return None, NON_FINITE_TARGET
    return number, None


def validate_record(
    record: Any,
    target_names: Sequence[str],
    *,
    base_dir: str | os.PathLike | None = None,
    label_fields: Sequence[str] = LABEL_FIELDS,
    check_image: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[dict | None, str | None, str | None]:
    """`(clean_record, None, None)` for a usable record, `(None, reason, detail)` otherwise.

    The clean record has `image` (an absolute path), the label fields (stripped strings) and each target as a
    float; other fields are dropped.
    """
    if not isinstance(record, Mapping):
        return None, MALFORMED_RECORD, f"a {type(record).__name__}, not an object"
    clean = {}
    for field in label_fields:
        value = record.get(field)
        if value is None:
            return None, MISSING_FIELD, field
        if not isinstance(value, (str, int)) or not str(value).strip():
            return None, EMPTY_STRING, field
        clean[field] = str(value).strip()
    for name in target_names:
        number, reason = _parse_target(record.get(name))
        if reason is not None:
            return None, reason, f"{name}={record.get(name)!r}"
        clean[name] = number
    image = next((record[key] for key in IMAGE_KEYS if record.get(key) is not None), None)
    if image is None:
        return None, MISSING_FIELD, "image_path"
    if not isinstance(image, (str, os.PathLike)) or not str(image).strip():
        return None, EMPTY_STRING, f"image_path={image!r}"
    path = Path(image).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        return None, IMAGE_NOT_FOUND, str(path)
    if check_image:
        reason = check_image_file(str(path), max_pixels=max_pixels, max_bytes=max_bytes)
        if reason is not None:
            return None, reason, str(path)
    clean["image"] = str(path.resolve())
    return clean, None, None


def load_records(
    source: str | os.PathLike | Iterable[Any],
    target_names: Sequence[str],
    *,
    base_dir: str | os.PathLike | None = None,
    label_fields: Sequence[str] = LABEL_FIELDS,
    name: str | None = None,
    check_images: bool = True,
) -> tuple[Dataset, SkipReport]:
    """Load and validate labelled image records: a JSON file holding a list of them, or the records as a list.

    Returns a `Dataset` with columns `id`, `image` (absolute path), the label fields and one float column per
    target, and the [`SkipReport`] of the records left out (logged, never raised). Relative image paths are
    resolved against `base_dir`, by default the JSON file's folder. Raises only if nothing is usable, or if the
    file cannot be read (empty, truncated, not JSON: a [`~hf_pricer.data.files.DataFileError`] naming it).
    """
    if isinstance(source, (str, os.PathLike)):
        records = read_json_document(source)
        if not isinstance(records, list):
            raise DataFileError(source, f"expected a JSON list of records, got a {type(records).__name__}")
        base_dir = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(source))
        name = name or os.path.basename(source)
    else:
        records = list(source)
    report = SkipReport(name or "records")
    rows = []
    for index, record in enumerate(records):
        if has_undecodable(record):
            clean, reason, detail = None, UNDECODABLE, f"record {index}"
        else:
            clean, reason, detail = validate_record(
                record, target_names, base_dir=base_dir, label_fields=label_fields, check_image=check_images
            )
        row_id = str(record.get("id", index)) if isinstance(record, Mapping) else str(index)
        if clean is None:
            report.add(reason, row_id, detail)
            continue
        report.kept += 1
        rows.append({"id": row_id, **clean})
    report.check_not_empty()
    if report.skipped:
        logger.warning(report.summary())
    return Dataset.from_list(rows), report


def target_statistics(dataset, target_names: Sequence[str]) -> tuple[list[float], list[float]]:
    """Per-target mean and standard deviation over `dataset` (std 1 for a constant target), for the config."""
    values = np.asarray([dataset[name] for name in target_names], dtype=np.float64)
    std = values.std(axis=1)
    return values.mean(axis=1).tolist(), np.where(std > 0, std, 1.0).tolist()


def label_vocabulary(dataset: Dataset, field: str) -> dict[int, str]:
    """`id2label` of a label field: its distinct values, sorted."""
    return dict(enumerate(sorted(set(dataset[field]))))


def keep_known_labels(dataset: Dataset, field: str, label2id: Mapping[str, int]) -> tuple[Dataset, SkipReport]:
    """Drop (counted, logged) the rows whose `field` is not one of the classifier's labels, e.g. a validation
    record of a company the training set does not have."""
    report = SkipReport(f"{field} labels")
    keep = []
    for index, (row_id, value) in enumerate(zip(dataset["id"], dataset[field], strict=True)):
        if value in label2id:
            keep.append(index)
            report.kept += 1
        else:
            report.add(UNKNOWN_LABEL, row_id, f"{field}={value!r}")
    return dataset.select(keep), report


def to_serializable(value: Any) -> Any:
    """`value` with NumPy/torch scalars and arrays, tuples and paths turned into JSON types (as the original
    implementation's `convert_to_serializable` does). Non-finite floats stay floats (`json` writes them as
    `NaN`/`Infinity`)."""
    if isinstance(value, Mapping):
        return {str(key): to_serializable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_serializable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_serializable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "detach") and hasattr(value, "tolist"):  # torch tensors
        return to_serializable(value.detach().cpu().tolist())
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def save_json(value: Any, path: str | os.PathLike) -> str:
    """Write `value` as indented JSON after [`to_serializable`]; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_serializable(value), handle, indent=2)
    return str(path)


# The catalog's category is drawn (as the product's shape) and its product types are the nouns within each
# category, a real two-level hierarchy; the brand is not in the image. Both targets are drawn: the product's
# size and the quantity printed on its label (log, relative to the category's reference).
CATALOG_FIELDS = {"company": "category", "model": "attr_product_type"}
CATALOG_TARGETS = {"size": "attr_size", "log_quantity": "attr_quantity_rel"}


def write_catalog_json(
    folder: str | os.PathLike,
    num_items: int = 1000,
    *,
    seed: int = 0,
    image_size: int = 224,
    val_fraction: float = 0.2,
    fields: Mapping[str, str] = CATALOG_FIELDS,
    targets: Mapping[str, str] = CATALOG_TARGETS,
) -> tuple[str, str]:
    """Write the embedded synthetic catalog ([`hf_pricer.generate_catalog`]) as JSON records:
    PNG images under `folder/images/`, `folder/train.json` and `folder/val.json` (the last `val_fraction` of
    the items). `fields` maps `company`/`model` to catalog columns, `targets` target names to catalog columns.
    Returns the two JSON paths; an existing complete folder is reused."""
    from .catalog import generate_catalog

    folder = Path(folder)
    train_path, val_path = folder / "train.json", folder / "val.json"
    if train_path.is_file() and val_path.is_file():
        return str(train_path), str(val_path)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    catalog = generate_catalog(num_items, seed=seed, image_size=image_size, with_images=True)
    records = []
    for item in catalog:
        image_path = f"images/{item['id']}.png"
        item["image"].save(folder / image_path)
        record = {"id": item["id"], "image_path": image_path}
        record.update({field: item[column] for field, column in fields.items()})
        record.update({name: item[column] for name, column in targets.items()})
        records.append(record)
    num_val = int(round(len(records) * val_fraction))
    save_json(records[: len(records) - num_val], train_path)
    save_json(records[len(records) - num_val :], val_path)
    return str(train_path), str(val_path)


def load_train_val(
    train_json: str | None,
    val_json: str | None,
    target_names: Sequence[str],
    *,
    catalog_dir: str | os.PathLike,
    catalog_size: int = 600,
    image_size: int = 64,
    seed: int = 0,
) -> tuple[Dataset, Dataset | None]:
    """The recipes' records: `train_json` (and `val_json`, optional), or without them the embedded catalog
    written to `catalog_dir` by [`write_catalog_json`] (its targets are `CATALOG_TARGETS`)."""
    if train_json is None:
        if val_json is not None:
            raise ValueError("`val_json` was given without `train_json`")
        missing = set(target_names) - set(CATALOG_TARGETS)
        if missing:
            raise ValueError(f"the catalog has the targets {list(CATALOG_TARGETS)}, not {sorted(missing)}")
        train_json, val_json = write_catalog_json(catalog_dir, catalog_size, seed=seed, image_size=image_size)
    train, _ = load_records(train_json, target_names)
    val = load_records(val_json, target_names)[0] if val_json else None
    return train, val


GROCERY_TARGETS = ("package_size", "energy_kcal")


def grocery_records(root: str | os.PathLike, split: str = "train", coarse_group: str | None = "Packages") -> list[dict]:
    """The Grocery Store Dataset (`root` holds `classes.csv`, `{split}.txt`) as labelled image records: coarse
    class → `company`, fine class → `model`, targets from the class's `_Information.txt`
    ([`hf_pricer.data.grocery.parse_grocery_information`]). `coarse_group` keeps one top-level group
    (`"Packages"`: the classes with package sizes and energy); `None` keeps all. Targets a class lacks are
    `None`, so [`load_records`] counts those records as skipped."""
    root = Path(root)
    classes = {}
    for class_id, info in grocery_classes(root).items():
        information = Path(info["information"])
        targets = parse_grocery_information(information.read_text(encoding="utf-8")) if information.is_file() else {}
        classes[class_id] = {
            "company": info["coarse_name"],
            "model": info["class_name"],
            "group": info["group"],
            **{name: targets.get(name) for name in GROCERY_TARGETS},
        }
    records = []
    for line in (root / f"{split}.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        path, fine_id, _ = (part.strip() for part in line.split(","))
        info = classes[int(fine_id)]
        if coarse_group is None or info["group"] == coarse_group:
            record = {"id": path, "image_path": str(root / path)}
            record.update({key: value for key, value in info.items() if key != "group"})
            records.append(record)
    return records


__all__ = [
    "CATALOG_FIELDS",
    "CATALOG_TARGETS",
    "GROCERY_TARGETS",
    "grocery_records",
    "keep_known_labels",
    "label_vocabulary",
    "load_records",
    "load_train_val",
    "save_json",
    "target_statistics",
    "to_serializable",
    "validate_record",
    "write_catalog_json",
]
