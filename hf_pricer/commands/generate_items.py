"""`hf-pricer generate-items`: an `ed-donner/items_full`-shaped data set from the synthetic catalog (text only).

    hf-pricer generate-items --output data/items-full                  # 400,000 rows, Parquet and JSON Lines shards
    hf-pricer generate-items --output data/items-20k --rows 20000 --format parquet

writes `DIR/parquet/data/train-*.parquet` and/or `DIR/jsonl/data/train-*.jsonl` with the Hub data set's columns
(`title, category, price, full, weight, summary, prompt, id`); `load_items("DIR/parquet", streaming=True)` and the
recipes' `--dataset DIR/parquet` read them as they read the Hub's (see `hf_pricer.data.items_full`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence


def main(args: Sequence[str] | None = None) -> dict[str, list[str]]:
    parser = argparse.ArgumentParser(prog="hf-pricer generate-items", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, metavar="DIR", help="The folder to write.")
    parser.add_argument("--rows", type=int, default=400_000, help="Rows in all (default 400,000, as items_full).")
    parser.add_argument("--rows_per_shard", type=int, default=20_000)
    parser.add_argument("--format", nargs="+", default=["parquet", "jsonl"], choices=["parquet", "jsonl"])
    parser.add_argument("--seed", type=int, default=0, help="The catalog's seed.")
    parser.add_argument("--num_proc", type=int, default=None, help="Processes writing shards (default: CPU count).")
    parsed = parser.parse_args(args)
    from hf_pricer.data.items_full import write_items_full

    start = time.perf_counter()
    try:
        written = write_items_full(parsed.output, parsed.rows, parsed.rows_per_shard, tuple(parsed.format),
                                   parsed.seed, parsed.num_proc)
    except ValueError as error:
        parser.error(str(error))
    for name, paths in written.items():
        print(f"wrote {parsed.rows:,} rows as {len(paths)} {name} shards in {parsed.output}/{name}/data")
    print(f"in {time.perf_counter() - start:.0f} s")
    return written
