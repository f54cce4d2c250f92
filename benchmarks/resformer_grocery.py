"""Resformer F1 on the Grocery Store Dataset's packaged products (real phone photos), test split.

    python benchmarks/resformer_grocery.py --model outputs/resformer-labels

Rows are `hf_pricer.data.grocery.grocery_package_rows(../shared/data/grocery, "test")`: `item_volume` /
`item_weight` of 32 packaged products read from their `_Information.txt` ("1l" → "1.0 litre"). The
model is applied as trained (on rendered labels, no grocery photo seen): this measures transfer from
synthetic labels to real packaging. Exits cleanly when the data folder is absent.
Writes benchmarks/results/resformer_grocery.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from residual_throughput import cpu_sample  # noqa: E402
from resformer_labels import REPO_ROOT, VARIANTS, header, predict, run_meta, score, table, training_summary, write  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.data.grocery import grocery_package_rows  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(REPO_ROOT), "shared", "data", "grocery")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(REPO_ROOT, "outputs", "resformer-labels"))
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--name", default="resformer_grocery")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"SKIPPED: grocery data not found at {os.path.abspath(args.data)} (this benchmark needs ../shared/data)")
        return None
    run_sample = cpu_sample()
    model = hf_pricer.ResformerForConditionalGeneration.from_pretrained(args.model).eval()
    processor = hf_pricer.ResformerProcessor.from_pretrained(args.model)
    rows = [{**row, "image": row["image_link"]} for row in grocery_package_rows(args.data, "test")]
    results, predictions = {}, {}
    for variant, kwargs in VARIANTS.items():
        predictions[variant], _ = predict(model, processor, rows, args.batch_size, **kwargs)
        results[variant] = score(predictions[variant], rows)
        print(variant, results[variant], flush=True)
    common = collections.Counter(predictions["greedy, constrained"]).most_common(5)
    meta = run_meta(argv, run_sample, model=os.path.relpath(os.path.abspath(args.model), REPO_ROOT),
                    rows=len(rows), products=len({row["class_name"] for row in rows}),
                    training=training_summary(args.model), images_skipped=processor.image_report.skipped)
    markdown = header("Resformer on Grocery Store packages (test split)", meta) + (
        f"Model: `{meta['model']}` trained on rendered labels only (training: {meta['training']}). Rows: "
        f"{meta['rows']} test photos of {meta['products']} packaged products (224 px phone photos resized to "
        f"{model.config.image_size} px); ground truth from each product's `_Information.txt`.\n\n"
        + table(results)
        + "\nMost frequent greedy-constrained predictions: "
        + ", ".join(f"`{p or '(empty)'}` ×{n}" for p, n in common)
        + "\n\nThe sizes on these packages are small print somewhere on a real product photographed at 224 px, "
        "not a centred label; a model that only saw rendered labels is not expected to transfer.\n"
    )
    write(args.name, meta, {"variants": results}, markdown)
    return results


if __name__ == "__main__":
    main()
