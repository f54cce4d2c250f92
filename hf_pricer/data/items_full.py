"""An `ed-donner/items_full`-shaped data set written from the synthetic catalog, to measure training at that scale
offline: `write_items_full(output_dir)` or `hf-pricer generate-items --output DIR`.

The Hub data set has about 400,000 rows with the columns `title, category, price, full, weight, summary, prompt, id`;
this writes the same columns, for as many rows, as Parquet and/or JSON Lines shards laid out as a Hub data set repository
(`{output_dir}/{format}/data/train-00000-of-00020.parquet`, ...), so that `load_items(f"{output_dir}/parquet",
streaming=True)` reads them through `datasets.load_dataset` exactly as it reads the Hub's. Rows are text only:
`summary` is the catalog item's description, `full` its title, description and details, `prompt` the question-and-answer
text of the Hub data set's format, and `weight` the item's weight in pounds where the catalog item is sold by weight
(0 otherwise). Row `i` is the catalog's row `i` (`generate_catalog`'s determinism), whatever the shard layout; shards
are written by `num_proc` processes.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import ProcessPoolExecutor

from .catalog import sample_row

ITEMS_FULL_COLUMNS = ("title", "category", "price", "full", "weight", "summary", "prompt", "id")
FORMATS = {"parquet": "parquet", "jsonl": "jsonl"}  # format → file extension
PROMPT = "How much does this cost to the nearest dollar?\n\n{title}\n{summary}\n\nPrice is ${price:.2f}"
GRAMS_PER_POUND = 453.59237


def items_full_row(i: int, seed: int = 0) -> dict:
    """Row `i` in the columns of `ed-donner/items_full`, from the synthetic catalog's row `i`."""
    row, _ = sample_row(seed, i)
    features = json.loads(row["details"]).get("features", [])
    weight = row["attr_quantity_std"] / GRAMS_PER_POUND if row["entity_name"] == "item_weight" else 0.0
    return {
        "title": row["title"],
        "category": row["category"],
        "price": row["price"],
        "full": "\n".join([row["title"], row["text"], *features]),
        "weight": round(weight, 4),
        "summary": row["text"],
        "prompt": PROMPT.format(title=row["title"], summary=row["text"], price=float(round(row["price"]))),
        "id": f"synthetic-{i:07d}",
    }


def _write_shard(task: tuple) -> list[str]:
    start, stop, seed, paths = task
    rows = [items_full_row(i, seed) for i in range(start, stop)]
    written = []
    for format_name, path in paths.items():
        if format_name == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), path)
        else:
            with open(path, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        written.append(path)
    return written


def write_items_full(
    output_dir: str | os.PathLike,
    num_rows: int = 400_000,
    rows_per_shard: int = 20_000,
    formats: tuple[str, ...] = ("parquet", "jsonl"),
    seed: int = 0,
    num_proc: int | None = None,
) -> dict[str, list[str]]:
    """Write `num_rows` rows as `{output_dir}/{format}/data/train-*-of-*.{ext}` shards of `rows_per_shard` rows; returns
    the shard paths of each format. `num_proc` processes write shards at once (default: the CPU count)."""
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"`formats` must be some of {sorted(FORMATS)}, got {list(formats)}")
    if num_rows < 1 or rows_per_shard < 1:
        raise ValueError(f"`num_rows` and `rows_per_shard` must be positive, got {num_rows} and {rows_per_shard}")
    shards = math.ceil(num_rows / rows_per_shard)
    tasks = []
    for shard in range(shards):
        paths = {}
        for name in formats:
            folder = os.path.join(output_dir, name, "data")
            os.makedirs(folder, exist_ok=True)
            paths[name] = os.path.join(folder, f"train-{shard:05d}-of-{shards:05d}.{FORMATS[name]}")
        tasks.append((shard * rows_per_shard, min(num_rows, (shard + 1) * rows_per_shard), seed, paths))
    workers = min(num_proc or os.cpu_count() or 1, shards)
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_write_shard, tasks))
    else:
        results = [_write_shard(task) for task in tasks]
    return {name: [paths[position] for paths in results] for position, name in enumerate(formats)}


__all__ = ["ITEMS_FULL_COLUMNS", "items_full_row", "write_items_full"]
