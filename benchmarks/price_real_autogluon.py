"""AutoGluon on the splits of `price_real.py`, run in AutoGluon's own environment (it is a benchmark-only
dependency, never one of hf_pricer's):

    python -m venv ag && ag/bin/pip install "autogluon.tabular[all]"
    python benchmarks/price_real.py --export-splits /tmp/price_splits
    ag/bin/python benchmarks/price_real_autogluon.py --splits /tmp/price_splits

`TabularPredictor(label="log_price", eval_metric="mean_absolute_error")` on `title`, `category`, `text`
(AutoGluon builds its own n-gram features) and `log1p(price)`, `presets="best_quality"`, `time_limit=600`;
predictions are `expm1`'d. Writes `benchmarks/results/price_real_autogluon.json` (one entry per file: metrics,
fit time, the best model, the per-item test predictions by item id and this command), which `price_real.py`
reads. Imports neither hf_pricer nor anything it needs.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import pandas as pd

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "price_real_autogluon.json")
COLUMNS = ["title", "category", "text"]


def frame(path):
    items = pd.read_json(path, lines=True, dtype=False)
    data = items[COLUMNS].fillna("").astype(str)
    data["log_price"] = np.log1p(items["price"].astype(float))
    return items, data


def main():
    from autogluon.tabular import TabularPredictor

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", required=True, help="Folder written by price_real.py --export-splits")
    parser.add_argument("--files", nargs="+", default=["appliances", "mit"])
    parser.add_argument("--time-limit", type=int, default=600)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()
    results = {}
    if os.path.isfile(args.out):
        with open(args.out, encoding="utf-8") as handle:
            results = json.load(handle)
    for name in args.files:
        _, train = frame(os.path.join(args.splits, f"{name}_train.jsonl"))
        test_items, test = frame(os.path.join(args.splits, f"{name}_test.jsonl"))
        with tempfile.TemporaryDirectory() as model_dir:
            start = time.perf_counter()
            predictor = TabularPredictor(
                label="log_price",
                eval_metric="mean_absolute_error",
                problem_type="regression",
                path=model_dir,
                verbosity=1,
            )
            predictor.fit(train, presets="best_quality", time_limit=args.time_limit, num_cpus=args.num_cpus)
            fit_seconds = time.perf_counter() - start
            predicted = np.clip(
                np.expm1(predictor.predict(test.drop(columns="log_price")).to_numpy()), 0.01, None
            )
            best_model = predictor.model_best
        prices = test_items["price"].astype(float).to_numpy()
        error = np.abs(predicted - prices)
        results[name] = {
            "smape": float(100 * np.mean(error / ((np.abs(prices) + np.abs(predicted)) / 2 + 1e-8))),
            "mae": float(error.mean()),
            "hit_rate": float(100 * np.mean((error < 40) | (error < 0.2 * prices))),
            "fit_wall_s": fit_seconds,
            "num_cpus": args.num_cpus,
            "time_limit": args.time_limit,
            "best_model": best_model,
            "command": "python benchmarks/price_real_autogluon.py " + " ".join(sys.argv[1:]),
            "predictions": {str(i): float(p) for i, p in zip(test_items["id"], predicted)},
        }
        print(
            f"{name}: test SMAPE {results[name]['smape']:.2f} in {fit_seconds:.0f} s ({best_model})",
            flush=True,
        )
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
