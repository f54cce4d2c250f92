"""The items_full-shaped data set written from the catalog: the Hub's columns, shards that `load_items` streams."""

import json

import pyarrow.parquet as pq
import pytest

from hf_pricer.commands import main as hf_pricer_main
from hf_pricer.data import load_items
from hf_pricer.data.items_full import ITEMS_FULL_COLUMNS, items_full_row, write_items_full


def test_writes_parquet_and_jsonl_shards_with_the_hub_columns(tmp_path):
    written = write_items_full(tmp_path, num_rows=250, rows_per_shard=100, num_proc=1)
    assert [path.rsplit("/", 1)[1] for path in written["parquet"]] == [
        "train-00000-of-00003.parquet", "train-00001-of-00003.parquet", "train-00002-of-00003.parquet"]
    table = pq.read_table(written["parquet"][0])
    assert tuple(table.column_names) == ITEMS_FULL_COLUMNS and table.num_rows == 100
    rows = [json.loads(line) for path in written["jsonl"] for line in open(path, encoding="utf-8")]
    parquet_rows = [row for path in written["parquet"] for row in pq.read_table(path).to_pylist()]
    assert rows == parquet_rows and len(rows) == 250
    assert len({row["id"] for row in rows}) == 250
    first = rows[0]
    assert first == items_full_row(0)
    assert first["full"].startswith(first["title"] + "\n" + first["summary"])
    assert first["prompt"].endswith(f"Price is ${round(first['price']):.2f}")
    assert any(row["weight"] > 0 for row in rows) and all(row["weight"] >= 0 for row in rows)


def test_rows_do_not_depend_on_the_shard_layout(tmp_path):
    one = write_items_full(tmp_path / "one", num_rows=120, rows_per_shard=120, formats=("jsonl",), num_proc=1)
    two = write_items_full(tmp_path / "two", num_rows=120, rows_per_shard=50, formats=("jsonl",), num_proc=2)
    assert len(two["jsonl"]) == 3
    read = lambda paths: [line for path in paths for line in open(path, encoding="utf-8")]  # noqa: E731
    assert read(one["jsonl"]) == read(two["jsonl"])


def test_load_items_streams_the_folder_as_the_hub_data_set(tmp_path):
    write_items_full(tmp_path, num_rows=60, rows_per_shard=25, formats=("parquet",), num_proc=1)
    streamed = load_items(str(tmp_path / "parquet"), streaming=True)["train"]
    items = list(streamed)
    assert len(items) == 60
    assert items[3]["text"] == items[3]["summary"] and isinstance(items[3]["price"], float)
    map_style = load_items(str(tmp_path / "parquet"))["train"]
    assert map_style.num_rows == 60 and map_style[0]["id"] == "synthetic-0000000"


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="`formats` must be some of"):
        write_items_full(tmp_path, num_rows=10, formats=("csv",))
    with pytest.raises(ValueError, match="must be positive"):
        write_items_full(tmp_path, num_rows=0)


def test_generate_items_command(tmp_path, capsys):
    assert hf_pricer_main(["generate-items", "--output", str(tmp_path), "--rows", "30", "--rows_per_shard", "20",
                           "--format", "parquet", "--num_proc", "1"]) == 0
    assert "wrote 30 rows as 2 parquet shards" in capsys.readouterr().out
    assert not (tmp_path / "jsonl").exists()
