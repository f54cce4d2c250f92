"""Loading items from the Hub, from local files or from the embedded synthetic catalog.

Every loader returns `datasets` objects in the item schema (see :mod:`hf_pricer.data.schema`) with bad
rows removed, counted and logged. `load_items` is the single entry point the recipes use:

>>> load_items("catalog")                                  # embedded synthetic catalog, offline
>>> load_items("ed-donner/items_full", streaming=True)     # Hub dataset, streamed
>>> load_items("../shared/data/items/appliances_2000.jsonl")  # local jsonl/json/csv/parquet

Local files are read row by row (:mod:`hf_pricer.data.files`): a damaged row (bytes that are not UTF-8, a
malformed JSON line or CSV row) is skipped and counted with its file and line, and a file that cannot be
read at all raises one error naming it. The dataset's columns are the union of every row's columns, each
with one type; a column whose values have different types (numbers in some rows, text in others) becomes a
text column, each converted value counted. Repeated ids are counted, and a local file is split into
`train`/`test` by id, so the rows of one id never land in both.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping

import datasets
import numpy as np
from datasets import Dataset, DatasetDict, Features, IterableDataset, IterableDatasetDict, Value

from .files import CsvFile, iter_json_list, iter_jsonl, iter_parquet
from .schema import CAST_TO_STRING, DEFAULT_PRICE_RANGE, DUPLICATE_ID, SkipReport, _normalize

logger = logging.getLogger(__name__)

CATALOG_SOURCES = ("catalog", "synthetic")
LOCAL_FORMATS = (".jsonl", ".json", ".csv", ".parquet")
_SKIP = "_skip_reason"
_SKIP_PRICE = "_skip_price"
_NOTE = "_note"
_SCHEMA_TYPES = {"id": "string", "title": "string", "text": "string", "category": "string", "details": "string",
                 "price": "float64"}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _read_local_rows(path: str) -> Iterator[tuple[str, dict | None, str | None]]:
    """`(where, row, problem)` for each row of a local file (see :mod:`hf_pricer.data.files`)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".jsonl":
        yield from iter_jsonl(path)
    elif suffix == ".json":
        with open(path, "rb") as handle:  # a `.json` file holds a list of objects, or one object per line
            start = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        yield from (iter_jsonl(path) if start == b"{" else iter_json_list(path))
    elif suffix == ".csv":
        with CsvFile(path) as table:
            yield from table
    elif suffix == ".parquet":
        yield from iter_parquet(path)
    else:
        raise ValueError(f"unsupported items file {path!r}: expected one of {LOCAL_FORMATS}")


def _clean_rows(rows: Iterable[tuple[str, dict | None, str | None]], report: SkipReport | None, id_prefix: str,
                price_range: tuple[float, float] | None) -> Iterator[tuple[str, dict]]:
    """`(where, item)` for the usable rows; the others are counted in `report` (None: not counted)."""
    seen: set[str] = set()
    for index, (where, row, problem) in enumerate(rows):
        if problem is not None:
            if report is not None:
                report.add(problem, f"{id_prefix}-{index}", where)
            continue
        item, reason, note = _normalize(row, index, id_prefix, price_range)
        if reason is not None:
            if report is not None:
                report.add(reason, item["id"], f"{where}; price={row.get('price')!r}")
            continue
        if report is not None:
            report.kept += 1
            if note is not None:
                report.note(note, item["id"], f"{where}; price={row.get('price')!r}")
            if item["id"] in seen:
                report.note(DUPLICATE_ID, item["id"], where)
            seen.add(item["id"])
        yield where, item


_MIXED = "mixed"
_SCALAR_TYPES = {bool: "bool", int: "int64", float: "float64", str: "string", bytes: "binary"}


def _value_type(value) -> str | object:
    """A value's column type: a `datasets` dtype name, `"image"`, an Arrow type for nested values, or `_MIXED`."""
    if value is None:
        return "null"
    if type(value) in _SCALAR_TYPES:
        return _SCALAR_TYPES[type(value)]
    if hasattr(value, "getpixel"):  # a PIL image
        return "image"
    try:
        import pyarrow as pa

        return pa.array([value]).type
    except Exception:  # noqa: BLE001 -- whatever Arrow cannot hold is stored as text
        return _MIXED


def _merge_types(first, second):
    if first == second or second == "null":
        return first
    if first == "null":
        return second
    if {first, second} == {"int64", "float64"}:
        return "float64"
    return _MIXED


class _Columns:
    """The union of the columns of every row, with one type per column, gathered as the rows pass."""

    def __init__(self):
        self.types: dict[str, object] = {}

    def add(self, item: dict) -> None:
        for name, value in item.items():
            if name in _SCHEMA_TYPES:
                self.types[name] = _SCHEMA_TYPES[name]
            else:
                self.types[name] = _merge_types(self.types.get(name, "null"), _value_type(value))

    def features(self) -> Features:
        def feature(kind):
            if kind == "image":
                return datasets.Image()
            if kind == _MIXED:
                return Value("string")
            if isinstance(kind, str):
                return Value(kind)
            return datasets.features.features.generate_from_arrow_type(kind)

        return Features({name: feature(kind) for name, kind in self.types.items()})

    def conform(self, item: dict, where: str, report: SkipReport | None) -> dict:
        """`item` with every column (None where it has none), values of mixed-type columns as text."""
        row = {}
        for name, kind in self.types.items():
            value = item.get(name)
            if kind == _MIXED and value is not None and not isinstance(value, str):
                if report is not None:
                    report.note(CAST_TO_STRING, item.get("id"), f"{where}; column {name!r}={value!r}")
                value = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
            row[name] = value
        return row


def _normalize_columns(*columns_and_indices, column_names: list[str], image_columns: list[str], id_prefix: str,
                       price_range: tuple[float, float] | None):
    """Batched `Dataset.map` function: schema columns plus the skip reason and note of each row.

    It receives every column but the image ones, so images are never decoded while checking rows.
    """
    *columns, indices = columns_and_indices
    out: dict[str, list] = {}
    for position, index in enumerate(indices):
        row = {name: column[position] for name, column in zip(column_names, columns)}
        row.update({name: True for name in image_columns})  # present, so no `image_url` is copied over it
        item, reason, note = _normalize(row, index, id_prefix, price_range)
        item[_SKIP], item[_NOTE] = reason, note
        item[_SKIP_PRICE] = None if reason is None and note is None else repr(row.get("price"))
        for name in image_columns:
            item.pop(name)
        for name, value in item.items():
            out.setdefault(name, [None] * len(indices))[position] = value
    return out


def clean_items(
    dataset: Dataset | IterableDataset,
    name: str = "items",
    *,
    price_range: tuple[float, float] | None = DEFAULT_PRICE_RANGE,
) -> tuple[Dataset | IterableDataset, SkipReport]:
    """Normalise a `datasets` object to the item schema and remove bad rows.

    For a `Dataset` the report is complete on return (and logged), repeated ids included; a dataset where
    every row is bad raises `ValueError`. For an `IterableDataset` rows are checked as they stream and the
    report fills up during iteration. `price_range`: see :func:`~hf_pricer.data.schema.parse_price`.
    """
    report = SkipReport(name)
    id_prefix = name.replace("/", "-")
    if isinstance(dataset, IterableDataset):

        def normalize(row, index):
            item, reason, note = _normalize(row, index, id_prefix, price_range)
            if reason is not None:
                report.add(reason, item.get("id"), f"price={row.get('price')!r}")
            else:
                report.kept += 1
                if note is not None:
                    report.note(note, item["id"], f"price={row.get('price')!r}")
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
        fn_kwargs={"column_names": read_columns, "image_columns": image_columns, "id_prefix": id_prefix,
                   "price_range": price_range},
        desc=f"checking {name}",
    )
    seen = set()
    for reason, note, row_id, price in zip(mapped[_SKIP], mapped[_NOTE], mapped["id"], mapped[_SKIP_PRICE]):
        if reason is not None:
            report.add(reason, row_id, f"price={price}")
            continue
        report.kept += 1
        if note is not None:
            report.note(note, row_id, f"price={price}")
        if row_id in seen:
            report.note(DUPLICATE_ID, row_id)
        seen.add(row_id)
    cleaned = mapped.filter(lambda reason: reason is None, input_columns=_SKIP)
    cleaned = cleaned.remove_columns([_SKIP, _SKIP_PRICE, _NOTE])
    logger.info(report.summary())
    report.check_not_empty()
    return cleaned, report


def load_local_items(
    path: str,
    streaming: bool = False,
    *,
    price_range: tuple[float, float] | None = DEFAULT_PRICE_RANGE,
) -> tuple[Dataset | IterableDataset, SkipReport]:
    """Items from one local `.jsonl`/`.json`/`.csv`/`.parquet` file, and the report of the rows left out.

    The columns and their types come from every row (see the module docstring). A file that cannot be read
    raises :class:`~hf_pricer.data.files.DataFileError` (a `ValueError`) naming it; so does a file without a
    usable row. When streaming, the file is read once up front for its columns (and its errors), and the
    report fills up as the rows stream.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"items file not found: {path!r}")
    id_prefix = os.path.basename(path)
    report = SkipReport(path)
    columns = _Columns()
    if streaming:
        for _, item in _clean_rows(_read_local_rows(path), None, id_prefix, price_range):
            columns.add(item)
        if not columns.types:  # no usable row: read it again, counting why, for the error
            for _ in _clean_rows(_read_local_rows(path), report, id_prefix, price_range):
                pass
            report.check_not_empty()

        def generate():
            for where, item in _clean_rows(_read_local_rows(path), report, id_prefix, price_range):
                yield columns.conform(item, where, report)

        return IterableDataset.from_generator(generate, features=columns.features()), report
    rows = list(_clean_rows(_read_local_rows(path), report, id_prefix, price_range))
    logger.info(report.summary())
    report.check_not_empty()
    for _, item in rows:
        columns.add(item)
    conformed = [columns.conform(item, where, report) for where, item in rows]
    features = columns.features()
    return Dataset.from_dict({name: [row[name] for row in conformed] for name in features}, features=features), report


def split_by_id(
    dataset: Dataset, test_size: float, seed: int = 42, report: SkipReport | None = None
) -> DatasetDict:
    """`train`/`test` splits in which all rows of one `id` are on the same side.

    `test_size` is a fraction of the distinct ids (a count when ≥ 1), rounded up as `datasets` does; the rows
    are shuffled with `seed`. Too few ids for two non-empty splits is a `ValueError` that says how many rows
    there are and, with `report`, why the others were skipped.
    """
    ids = dataset["id"]
    distinct = list(dict.fromkeys(ids))
    num_test = math.ceil(test_size * len(distinct)) if test_size < 1 else int(test_size)
    if not 0 < num_test < len(distinct):
        why = f" ({report.summary()})" if report is not None else ""
        raise ValueError(
            f"{len(dataset)} usable rows with {len(distinct)} distinct ids are too few to split into train and test "
            f"with test_size={test_size}{why}; pass more rows, or test_size=0 to keep them all for training"
        )
    generator = np.random.default_rng(seed)
    test_ids = {distinct[i] for i in generator.permutation(len(distinct))[:num_test]}
    order = generator.permutation(len(dataset))
    return DatasetDict(
        train=dataset.select([i for i in order if ids[i] not in test_ids]),
        test=dataset.select([i for i in order if ids[i] in test_ids]),
    )


def _looks_local(source: str) -> bool:
    """Whether `source` names a local file rather than a Hub dataset (`name` or `namespace/name`)."""
    if os.path.exists(source) or os.path.splitext(source)[1].lower() in LOCAL_FORMATS:
        return True
    if any(os.path.isfile(source + suffix) for suffix in LOCAL_FORMATS):  # `items` for `items.jsonl`
        return True
    if source.startswith((".", "~")) or os.path.isabs(source) or "\\" in source or not _HUB_ID.match(source):
        return True
    parent = os.path.dirname(source)
    return bool(parent) and os.path.isdir(parent)  # `data/items` next to a local `data/` folder


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
    price_range: tuple[float, float] | None = DEFAULT_PRICE_RANGE,
    reports: dict[str, SkipReport] | None = None,
) -> DatasetDict | IterableDatasetDict | Dataset | IterableDataset:
    """Load items in the hf_pricer schema.

    Args:
        source: `"catalog"` (the embedded synthetic catalog), a local items file, or a Hub dataset id
            such as `"ed-donner/items_full"` (`title, category, price, full, weight, summary, prompt, id`), or a
            local folder laid out as one (`data/train-*.parquet`...), both read by `datasets.load_dataset`. A
            source that looks like a file path (a known extension, `./`, `~`, an absolute path) and is not a file
            is a `FileNotFoundError`, never a Hub request.
        split: return only this split instead of the whole `DatasetDict`.
        streaming: return `IterableDataset`s (the Trainer then needs `max_steps`).
        test_size, seed: how a single local file is split into `train`/`test` by id (not when streaming;
            `test_size=0` keeps every row in `train`).
        catalog_size, catalog_seed, with_images, image_size: the synthetic catalog's size and rendering;
            it is split 80/10/10 into `train`/`validation`/`test` with `seed`.
        revision: Hub revision.
        price_range: `(low, high)` in dollars; rows priced outside are skipped as implausible (`None`: no bound).
        reports: if given, filled with the :class:`SkipReport` of each split.
    """
    reports = {} if reports is None else reports
    if source in CATALOG_SOURCES:
        from .catalog import generate_catalog

        if catalog_size < 6:
            raise ValueError(f"catalog_size={catalog_size} is too small for train/validation/test splits; use 6 or more")

        catalog = generate_catalog(n=catalog_size, seed=catalog_seed, image_size=image_size, with_images=with_images)
        first = catalog.train_test_split(test_size=0.2, seed=seed)
        rest = first["test"].train_test_split(test_size=0.5, seed=seed)
        result = DatasetDict(train=first["train"], validation=rest["train"], test=rest["test"])
        if streaming:
            result = IterableDatasetDict({name: ds.to_iterable_dataset() for name, ds in result.items()})
    elif not os.path.isdir(source) and _looks_local(source):
        if not os.path.isfile(source):
            near = [source + suffix for suffix in LOCAL_FORMATS if os.path.isfile(source + suffix)]
            raise FileNotFoundError(
                f"items file not found: {source!r} (a local path, so it is not looked up on the Hub)"
                + (f"; did you mean {near[0]!r}?" if near else "")
            )
        dataset, report = load_local_items(source, streaming=streaming, price_range=price_range)
        reports["train"] = report
        if streaming or not test_size:
            result = (IterableDatasetDict if streaming else DatasetDict)(train=dataset)
        else:
            result = split_by_id(dataset, test_size, seed, report)
    else:
        raw = datasets.load_dataset(source, revision=revision, streaming=streaming)
        cleaned = {}
        for name, dataset in raw.items():
            cleaned[name], reports[name] = clean_items(dataset, f"{source}:{name}", price_range=price_range)
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
