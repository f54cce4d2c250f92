import json
import logging

import pandas as pd
import pytest
from datasets import Dataset, IterableDataset

from hf_pricer.data import (
    clean_items,
    files,
    load_items,
    log_price_statistics,
    normalize_item,
    parse_price,
    schema,
)

GOOD = {"title": "Kettle", "text": "Steel kettle", "category": "Kitchen", "price": 25.0}
BAD_ROWS = [
    ({**GOOD, "price": None}, schema.MISSING_PRICE),
    ({**GOOD, "price": float("nan")}, schema.NAN_PRICE),
    ({**GOOD, "price": -3.0}, schema.NEGATIVE_PRICE),
    ({**GOOD, "price": 0}, schema.ZERO_PRICE),
    ({**GOOD, "price": "call us"}, schema.NON_NUMERIC_PRICE),
    ({**GOOD, "title": "", "text": "   "}, schema.EMPTY_TEXT),
]


@pytest.mark.parametrize(
    "value, expected",
    [(12, 12.0), ("12.5", 12.5), ("$1,299.00", 1299.0), (" 7 USD", 7.0), (".5", 0.5)],
)
def test_parse_price_accepts(value, expected):
    assert parse_price(value) == (expected, None)


@pytest.mark.parametrize(
    "value, reason",
    [
        (None, schema.MISSING_PRICE),
        ("", schema.MISSING_PRICE),
        (float("nan"), schema.NAN_PRICE),
        ("inf", schema.NAN_PRICE),
        (-1, schema.NEGATIVE_PRICE),
        ("-4.5", schema.NEGATIVE_PRICE),
        (0.0, schema.ZERO_PRICE),
        ("abc", schema.NON_NUMERIC_PRICE),
        (True, schema.NON_NUMERIC_PRICE),
        ([3], schema.NON_NUMERIC_PRICE),
    ],
)
def test_parse_price_rejects_with_reason(value, reason):
    assert parse_price(value) == (None, reason)


def test_normalize_item_maps_source_columns_and_keeps_the_rest():
    row = {"title": "T", "summary": "A summary", "full": "Full text", "price": "9.99", "image_url": "http://x/y.jpg",
           "weight": 2.0, "details": {"Brand": "Acme"}}
    item, reason = normalize_item(row, 3, "items_full")
    assert reason is None
    assert item["text"] == "A summary" and item["image"] == "http://x/y.jpg"
    assert item["price"] == 9.99 and item["id"] == "items_full-3"
    assert json.loads(item["details"]) == {"Brand": "Acme"}
    assert item["weight"] == 2.0 and item["full"] == "Full text"


def write_jsonl(path, rows, extra_lines=()):
    with open(path, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        for line in extra_lines:
            handle.write(line + "\n")
    return str(path)


def test_local_jsonl_bad_rows_are_counted_by_reason(tmp_path, caplog):
    rows = [dict(GOOD, title=f"good {i}") for i in range(4)] + [row for row, _ in BAD_ROWS]
    path = write_jsonl(tmp_path / "items.jsonl", rows, extra_lines=["{not json"])
    reports = {}
    with caplog.at_level(logging.WARNING):
        dataset = load_items(path, split="train", test_size=0, reports=reports)
    assert len(dataset) == 4
    report = reports["train"]
    assert report.kept == 4 and report.skipped == len(BAD_ROWS) + 1
    for _, reason in BAD_ROWS:
        assert report.counts[reason] == 1
    assert report.counts[files.MALFORMED_JSON_LINE] == 1
    assert "call us" in caplog.text and schema.EMPTY_TEXT in caplog.text


def test_local_csv_and_parquet(tmp_path):
    frame = pd.DataFrame([dict(GOOD, title="a"), dict(GOOD, title="b", price="oops"), dict(GOOD, title="c")])
    frame.to_csv(tmp_path / "items.csv", index=False)
    frame.assign(price=frame["price"].astype(str)).to_parquet(tmp_path / "items.parquet")
    for name in ("items.csv", "items.parquet"):
        reports = {}
        dataset = load_items(str(tmp_path / name), split="train", test_size=0, reports=reports)
        assert dataset["title"] == ["a", "c"] and dataset["price"] == [25.0, 25.0]
        assert reports["train"].counts == {schema.NON_NUMERIC_PRICE: 1}


def test_local_file_is_split_reproducibly(tmp_path):
    path = write_jsonl(tmp_path / "items.jsonl", [dict(GOOD, title=f"t{i}", price=i + 1.0) for i in range(50)])
    first = load_items(path, test_size=0.2, seed=42)
    second = load_items(path, test_size=0.2, seed=42)
    assert len(first["train"]) == 40 and len(first["test"]) == 10
    assert first["test"]["title"] == second["test"]["title"]


def test_every_row_bad_is_a_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [row for row, _ in BAD_ROWS])
    with pytest.raises(ValueError, match="every row was rejected"):
        load_items(path)


def test_missing_file_and_unknown_split(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_items(str(tmp_path / "nope.jsonl"))
    with pytest.raises(KeyError, match="validation"):
        load_items("catalog", split="dev", catalog_size=20)


def test_streaming_local_file_skips_while_iterating(tmp_path):
    rows = [dict(GOOD, title="a"), dict(GOOD, title="b", price=-1), dict(GOOD, title="c")]
    path = write_jsonl(tmp_path / "items.jsonl", rows)
    reports = {}
    stream = load_items(path, split="train", streaming=True, reports=reports)
    assert isinstance(stream, IterableDataset)
    assert [row["title"] for row in stream] == ["a", "c"]
    assert reports["train"].counts == {schema.NEGATIVE_PRICE: 1}


def test_clean_items_on_datasets_objects():
    raw = Dataset.from_list([dict(GOOD, title="a"), dict(GOOD, title="b", price=0.0), dict(GOOD, title="c")])
    cleaned, report = clean_items(raw, "mine")
    assert cleaned["title"] == ["a", "c"] and report.counts == {schema.ZERO_PRICE: 1}
    assert "_skip_reason" not in cleaned.column_names

    stream, stream_report = clean_items(raw.to_iterable_dataset(), "mine")
    assert [row["title"] for row in stream] == ["a", "c"]
    assert stream_report.counts == {schema.ZERO_PRICE: 1} and stream_report.kept == 2


def test_catalog_source_splits_and_images():
    splits = load_items("catalog", catalog_size=50, with_images=True, image_size=64)
    assert set(splits) == {"train", "validation", "test"}
    assert sum(len(split) for split in splits.values()) == 50
    assert splits["train"][0]["image"].size == (64, 64)
    assert set(splits["train"]["id"]).isdisjoint(splits["test"]["id"])


def test_log_price_statistics():
    dataset = Dataset.from_dict({"price": [9.0, 99.0, 999.0]})
    mean, std = log_price_statistics(dataset)
    assert mean == pytest.approx((2.302585 + 4.60517 + 6.907755) / 3, rel=1e-5)
    assert std == pytest.approx(2.302585, rel=1e-4)
    mean_stream, _ = log_price_statistics(dataset.to_iterable_dataset())
    assert mean_stream == pytest.approx(mean)
