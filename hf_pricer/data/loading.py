"""Loading items from the Hub, from local files or from the embedded synthetic catalog.

Every loader returns `datasets` objects in the item schema (see :mod:`hf_pricer.data.schema`) with bad
rows removed, counted and logged. `load_items` is the single entry point the recipes use:

>>> load_items("catalog")                                  # embedded synthetic catalog, offline
>>> load_items("ed-donner/items_full", streaming=True)     # Hub dataset, streamed
>>> load_items("../shared/data/items/appliances_2000.jsonl")  # local jsonl/json/csv/parquet
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping

import datasets
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from .schema import MALFORMED_ROW, SkipReport, normalize_item

logger = logging.getLogger(__name__)

CATALOG_SOURCES = ("catalog", "synthetic")
LOCAL_FORMATS = (".jsonl", ".json", ".csv", ".parquet")
_SKIP = "_skip_reason"
_SKIP_PRICE = "_skip_price"


def _read_local_rows(path: str) -> Iterator[dict | None]:
    """Raw rows of a local file; `None` stands for a line that is not a JSON object."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                yield row if isinstance(row, dict) else None
    elif suffix == ".json":
        with open(path, encoding="utf-8") as handle:
            rows = json.load(handle)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: a .json items file must hold a list of objects, got {type(rows).__name__}")
        yield from (row if isinstance(row, dict) else None for row in rows)
    elif suffix == ".csv":
        import pandas as pd

        # Read every cell as text so that a bad price in one row cannot change the type of the column.
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        yield from frame.to_dict(orient="records")
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path).to_pylist()
    else:
        raise ValueError(f"unsupported items file {path!r}: expected one of {LOCAL_FORMATS}")


def _clean_rows(rows, report: SkipReport, id_prefix: str) -> Iterator[dict]:
    for index, row in enumerate(rows):
        item, reason = normalize_item(row, index, id_prefix) if row is not None else ({}, MALFORMED_ROW)
        if reason is None:
            report.kept += 1
            yield item
        else:
            report.add(reason, item.get("id", f"{id_prefix}-{index}"), f"price={(row or {}).get('price')!r}")


def _normalize_columns(*columns_and_indices, column_names: list[str], image_columns: list[str], id_prefix: str):
    """Batched `Dataset.map` function: schema columns plus the skip reason of each row.

    It receives every column but the image ones, so images are never decoded while checking rows.
    """
    *columns, indices = columns_and_indices
    out: dict[str, list] = {}
    for position, index in enumerate(indices):
        row = {name: column[position] for name, column in zip(column_names, columns)}
        row.update({name: True for name in image_columns})  # present, so no `image_url` is copied over it
        item, reason = normalize_item(row, index, id_prefix)
        item[_SKIP] = reason
        item[_SKIP_PRICE] = None if reason is None else repr(row.get("price"))
        for name in image_columns:
            item.pop(name)
        for name, value in item.items():
            out.setdefault(name, [None] * len(indices))[position] = value
    return out


def clean_items(dataset: Dataset | IterableDataset, name: str = "items") -> tuple[Dataset | IterableDataset, SkipReport]:
    """Normalise a `datasets` object to the item schema and remove bad rows.

    For a `Dataset` the report is complete on return (and logged); a dataset where every row is bad
    raises `ValueError`. For an `IterableDataset` rows are checked as they stream and the report
    fills up during iteration.
    """
    report = SkipReport(name)
    id_prefix = name.replace("/", "-")
    if isinstance(dataset, IterableDataset):

        def normalize(row, index):
            item, reason = normalize_item(row, index, id_prefix)
            if reason is not None:
                report.add(reason, item.get("id"), f"price={row.get('price')!r}")
            else:
                report.kept += 1
            item[_SKIP] = reason
            return item

        cleaned = dataset.map(normalize, with_indices=True).filter(lambda row: row[_SKIP] is None)
        return cleaned.remove_columns([_SKIP]), report

    image_columns = [c for c, f in dataset.features.items() if isinstance(f, datasets.Image)]
    read_columns = [c for c in dataset.column_names if c not in image_columns]
    mapped = dataset.map(
        _normalize_columns,
        batched=True,
        with_indices=True,
        input_columns=read_columns,
        fn_kwargs={"column_names": read_columns, "image_columns": image_columns, "id_prefix": id_prefix},
        desc=f"checking {name}",
    )
    for reason, row_id, price in zip(mapped[_SKIP], mapped["id"], mapped[_SKIP_PRICE]):
        if reason is None:
            report.kept += 1
        else:
            report.add(reason, row_id, f"price={price}")
    cleaned = mapped.filter(lambda reason: reason is None, input_columns=_SKIP).remove_columns([_SKIP, _SKIP_PRICE])
    logger.info(report.summary())
    report.check_not_empty()
    return cleaned, report


def load_local_items(path: str, streaming: bool = False) -> tuple[Dataset | IterableDataset, SkipReport]:
    """Items from one local `.jsonl`/`.json`/`.csv`/`.parquet` file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"items file not found: {path!r}")
    name = os.path.basename(path)
    report = SkipReport(name)
    if streaming:
        dataset = IterableDataset.from_generator(
            lambda: _clean_rows(_read_local_rows(path), report, name), features=None
        )
        return dataset, report
    rows = list(_clean_rows(_read_local_rows(path), report, name))
    logger.info(report.summary())
    report.check_not_empty()
    return Dataset.from_list(rows), report


def load_items(
    source: str = "catalog",
    split: str | None = None,
    *,
    streaming: bool = False,
    test_size: float = 0.2,
    seed: int = 42,
    catalog_size: int = 2000,
    catalog_seed: int = 0,
    with_images: bool = False,
    image_size: int = 224,
    revision: str | None = None,
    reports: dict[str, SkipReport] | None = None,
) -> DatasetDict | IterableDatasetDict | Dataset | IterableDataset:
    """Load items in the hf_pricer schema.

    Args:
        source: `"catalog"` (the embedded synthetic catalog), a local items file, or a Hub dataset id
            such as `"ed-donner/items_full"` (`title, category, price, full, weight, summary, prompt, id`) or a
            local folder laid out as one (`data/train-*.parquet`...), both read by `datasets.load_dataset`.
        split: return only this split instead of the whole `DatasetDict`.
        streaming: return `IterableDataset`s (the Trainer then needs `max_steps`).
        test_size, seed: how a single local file is split into `train`/`test` (not used when streaming).
        catalog_size, catalog_seed, with_images, image_size: the synthetic catalog's size and rendering;
            it is split 80/10/10 into `train`/`validation`/`test` with `seed`.
        revision: Hub revision.
        reports: if given, filled with the :class:`SkipReport` of each split.
    """
    reports = {} if reports is None else reports
    if source in CATALOG_SOURCES:
        from .catalog import generate_catalog

        catalog = generate_catalog(n=catalog_size, seed=catalog_seed, image_size=image_size, with_images=with_images)
        first = catalog.train_test_split(test_size=0.2, seed=seed)
        rest = first["test"].train_test_split(test_size=0.5, seed=seed)
        result = DatasetDict(train=first["train"], validation=rest["train"], test=rest["test"])
        if streaming:
            result = IterableDatasetDict({name: ds.to_iterable_dataset() for name, ds in result.items()})
    elif not os.path.isdir(source) and (os.path.splitext(source)[1].lower() in LOCAL_FORMATS or os.path.exists(source)):
        dataset, report = load_local_items(source, streaming=streaming)
        reports["train"] = report
        if streaming:
            result = IterableDatasetDict(train=dataset)
        else:
            result = dataset.train_test_split(test_size=test_size, seed=seed) if test_size else DatasetDict(train=dataset)
    else:
        raw = datasets.load_dataset(source, revision=revision, streaming=streaming)
        cleaned = {}
        for name, dataset in raw.items():
            cleaned[name], reports[name] = clean_items(dataset, f"{source}:{name}")
        result = IterableDatasetDict(cleaned) if streaming else DatasetDict(cleaned)
    if split is None:
        return result
    if split not in result:
        raise KeyError(f"{source!r} has no split {split!r}; available: {sorted(result)}")
    return result[split]


def log_price_statistics(dataset: Dataset | IterableDataset, max_items: int | None = 100_000) -> tuple[float, float]:
    """Mean and standard deviation of `log1p(price)`, from at most `max_items` items (a streamed dataset is read once)."""
    if isinstance(dataset, Dataset):
        prices = dataset["price"] if max_items is None else dataset.select(range(min(max_items, len(dataset))))["price"]
    else:
        prices = []
        for item in dataset:
            prices.append(item["price"])
            if max_items is not None and len(prices) >= max_items:
                break
    values = [math.log1p(float(p)) for p in prices]
    if len(values) < 2:
        raise ValueError(f"need at least 2 prices to standardise the log price, got {len(values)}")
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, (std if std > 0 else 1.0)


def item_splits(
    dataset_dict: Mapping,
    eval_preference: tuple[str, ...] = ("validation", "test"),
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
):
    """`(train, eval)` splits of a loaded dataset dict; `eval` is the first of `eval_preference` present.

    `max_train_samples` / `max_eval_samples` keep the first rows of each split (map-style or streamed).
    """
    if "train" not in dataset_dict:
        raise KeyError(f"no 'train' split; available: {sorted(dataset_dict)}")
    train_split = dataset_dict["train"]
    eval_split = next((dataset_dict[name] for name in eval_preference if name in dataset_dict), None)
    if max_train_samples is not None:
        train_split = train_split.take(max_train_samples)
    if eval_split is not None and max_eval_samples is not None:
        eval_split = eval_split.take(max_eval_samples)
    return train_split, eval_split
