"""Accuracy of the residual price regressor against simple baselines on real product listings.

    python benchmarks/residual_accuracy.py           # full run (~10-15 min on 2 CPU cores)
    python benchmarks/residual_accuracy.py --quick   # smoke run (tiny grid, few epochs), results to *_quick.*

Data (read-only, never copied): `../shared/data/items/appliances_2000.jsonl`, split 80/20 with seed 42 by
`hf_pricer.load_items(path, test_size=0.2, seed=42)` (1,600 train / 400 test), and, for an out-of-distribution
check of the SAME fitted models, every usable row of `../shared/data/items/amazon_products_mit.jsonl`.
The script prints a message and exits 0 when `../shared/data` is absent.

Features: `ResidualRegressorProcessor()` (the design's defaults: HashingVectorizer, 5,000 features, English stop words,
binary, l2 norm) over `title` + `text`. Models:

- constant: the median training price;
- Ridge on log1p(price) (sklearn), predictions expm1'd;
- HistGradientBoostingRegressor on the same hashed features (dense) with a log1p target;
- ResidualRegressorForPriceRegression trained with PricerTrainer (L1 on the standardized log price, as designed).

Model selection (Ridge alpha, HGB learning rate, residual size / learning rate / number of epochs) uses a
validation split carved from the training split (15%, seed 42); the test set is used once, at the end, after
every model has been refit on the full 1,600 training items with the selected settings.

Results: benchmarks/results/residual_accuracy.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")

METRIC_KEYS = ("smape", "mae", "hit_rate", "rmsle", "r2")


def features(processor, dataset):
    texts = [processor.item_text(item) for item in dataset]
    return processor(texts, sparse=False, return_tensors="np")["input_features"].astype(np.float32)


def prices(dataset):
    return np.asarray(dataset["price"], dtype=np.float64)


def to_price(log_prediction):
    return np.clip(np.expm1(log_prediction), 0.0, None)


# --------------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------------
def fit_ridge(X, y, alpha):
    from sklearn.linear_model import Ridge

    return Ridge(alpha=alpha).fit(X, np.log1p(y))


def fit_hgb(X, y, params, seed):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(random_state=seed, **params).fit(X, np.log1p(y))


# --------------------------------------------------------------------------------------------------
# Residual regressor
# --------------------------------------------------------------------------------------------------
def train_residual(train_items, eval_items, settings, args, output_dir):
    """Train a ResidualRegressorForPriceRegression with PricerTrainer; returns (model, trainer log history, seconds)."""
    import torch
    import transformers

    import hf_pricer

    transformers.set_seed(args.seed)
    mean, std = hf_pricer.log_price_statistics(train_items)
    config = hf_pricer.ResidualRegressorConfig(
        num_features=5000,
        num_layers=settings["num_layers"],
        hidden_size=settings["hidden_size"],
        dropout=settings["dropout"],
        loss_type="l1",
        log_price_mean=mean,
        log_price_std=std,
    )
    model = hf_pricer.ResidualRegressorForPriceRegression(config)
    processor = hf_pricer.ResidualRegressorProcessor()
    training_args = hf_pricer.PricerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=settings["epochs"],
        per_device_train_batch_size=settings["batch_size"],
        per_device_eval_batch_size=256,
        learning_rate=settings["learning_rate"],
        weight_decay=0.01,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        warmup_steps=settings.get("warmup_steps", 0),
        bf16=settings.get("bf16", False),
        use_cpu=True,
        report_to="none",
        eval_strategy="epoch" if eval_items is not None else "no",
        save_strategy="no",
        logging_strategy="epoch",
        disable_tqdm=True,
        seed=args.seed,
        data_seed=args.seed,
    )
    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        eval_dataset=eval_items,
        data_collator=hf_pricer.ResidualRegressorCollator(processor, sparse=settings.get("sparse", False)),
        compute_metrics=hf_pricer.compute_metrics if eval_items is not None else None,
    )
    trainer.remove_callback(transformers.PrinterCallback)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    history = trainer.state.log_history
    model = trainer.model
    del trainer
    torch.set_grad_enabled(True)
    return model, history, seconds


def predict_residual(model, X, batch_size=256):
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            batch = torch.from_numpy(X[start : start + batch_size])
            out.append(model(input_features=batch).predictions.float().numpy())
    return np.concatenate(out).astype(np.float64)


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder holding items/appliances_2000.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--val-size", type=float, default=0.15, help="share of the training split held out for model selection")
    parser.add_argument("--max-epochs", type=int, default=20, help="epochs of each residual selection run (validated every epoch)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one small residual config, 3 epochs, small HGB")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    in_path = os.path.join(args.data_dir, "items", "appliances_2000.jsonl")
    ood_path = os.path.join(args.data_dir, "items", "amazon_products_mit.jsonl")
    if not os.path.isdir(args.data_dir) or not os.path.isfile(in_path):
        print(f"SKIPPED: real data not found at {os.path.abspath(in_path)} (this benchmark needs ../shared/data)")
        return 0

    import torch
    import transformers

    import hf_pricer

    logging.getLogger("hf_pricer").setLevel(logging.ERROR)
    logging.getLogger("hf_pricer.data.loading").setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else "benchmarks/residual_accuracy.py"
    command = " ".join(["python", script] + sys.argv[1:])
    run_start = time.perf_counter()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from residual_throughput import cpu_sample, foreign_cpu_share

    run_sample = cpu_sample()

    # ---------------- data
    splits = hf_pricer.load_items(in_path, test_size=0.2, seed=args.seed)
    train_full, test = splits["train"], splits["test"]
    ood_reports = {}
    ood = hf_pricer.load_items(ood_path, test_size=0, reports=ood_reports)["train"] if os.path.isfile(ood_path) else None
    inner = train_full.train_test_split(test_size=args.val_size, seed=args.seed)
    fit_items, val_items = inner["train"], inner["test"]
    processor = hf_pricer.ResidualRegressorProcessor()
    X_fit, X_val, X_train, X_test = (features(processor, d) for d in (fit_items, val_items, train_full, test))
    y_fit, y_val, y_train, y_test = (prices(d) for d in (fit_items, val_items, train_full, test))
    X_ood, y_ood = (features(processor, ood), prices(ood)) if ood is not None else (None, None)
    print(
        f"data: train {len(train_full)} (selection: fit {len(fit_items)} / val {len(val_items)}), test {len(test)}, "
        f"OOD {len(ood) if ood is not None else 0}; torch threads {torch.get_num_threads()}",
        flush=True,
    )

    selection = {"ridge": [], "hgb": [], "residual": []}
    # ---------------- selection: Ridge
    ridge_alphas = [0.3, 1.0, 3.0] if args.quick else [0.1, 0.3, 1.0, 3.0, 10.0]
    for alpha in ridge_alphas:
        model = fit_ridge(X_fit, y_fit, alpha)
        metrics = hf_pricer.price_metrics(to_price(model.predict(X_val)), y_val)
        selection["ridge"].append({"alpha": alpha, **metrics})
    best_ridge = min(selection["ridge"], key=lambda r: r["smape"])
    print(f"ridge: best alpha {best_ridge['alpha']} (val SMAPE {best_ridge['smape']:.2f})", flush=True)

    # ---------------- selection: HGB (one fit, number of boosting iterations picked with staged_predict)
    hgb_params = dict(learning_rate=0.1, max_iter=40 if args.quick else 150, max_leaf_nodes=15, early_stopping=False)
    start = time.perf_counter()
    model = fit_hgb(X_fit, y_fit, hgb_params, args.seed)
    fit_s = time.perf_counter() - start
    for iteration, log_pred in enumerate(model.staged_predict(X_val), start=1):
        if iteration % 10 == 0 or iteration == hgb_params["max_iter"]:
            metrics = hf_pricer.price_metrics(to_price(log_pred), y_val)
            selection["hgb"].append({"params": dict(hgb_params, max_iter=iteration), **metrics})
    best_hgb = min(selection["hgb"], key=lambda r: r["smape"])
    print(f"hgb: best {best_hgb['params']} (val SMAPE {best_hgb['smape']:.2f}; selection fit {fit_s:.0f} s)", flush=True)

    # ---------------- selection: residual regressor (validated every epoch)
    base = dict(dropout=0.2, batch_size=64, epochs=args.max_epochs)
    residual_grid = (
        [dict(base, num_layers=6, hidden_size=512, learning_rate=1e-3, epochs=3)]
        if args.quick
        else [
            dict(base, num_layers=6, hidden_size=512, learning_rate=1e-3),
            dict(base, num_layers=8, hidden_size=1024, learning_rate=1e-3),
            dict(base, num_layers=8, hidden_size=1024, learning_rate=3e-4),
            dict(base, num_layers=10, hidden_size=1024, learning_rate=3e-4),
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        for index, settings in enumerate(residual_grid):
            model, history, seconds = train_residual(fit_items, val_items, settings, args, os.path.join(tmp, f"sel{index}"))
            curve = [
                {"epoch": round(h["epoch"]), **{k: h[f"eval_{k}"] for k in METRIC_KEYS}}
                for h in history
                if "eval_smape" in h
            ]
            best = min(curve, key=lambda r: r["smape"])
            selection["residual"].append({"settings": settings, "train_s": seconds, "best_epoch": best["epoch"], "best": best, "curve": curve})
            print(
                f"residual {settings['num_layers']}x{settings['hidden_size']} lr {settings['learning_rate']}: best val SMAPE "
                f"{best['smape']:.2f} at epoch {best['epoch']} ({seconds:.0f} s); curve "
                + " ".join(f"{c['smape']:.1f}" for c in curve),
                flush=True,
            )
            del model
        best_residual = min(selection["residual"], key=lambda r: r["best"]["smape"])

        # ---------------- final fits on the full training split, evaluated once on test and OOD
        final_settings = dict(best_residual["settings"], epochs=best_residual["best_epoch"])
        final = {}
        start = time.perf_counter()
        median = float(np.median(y_train))
        final["constant median"] = {"predict": lambda X, m=median: np.full(len(X), m), "fit_s": time.perf_counter() - start,
                                    "config": f"median training price ${median:.2f}"}
        start = time.perf_counter()
        ridge = fit_ridge(X_train, y_train, best_ridge["alpha"])
        final["Ridge (log1p target)"] = {"predict": lambda X, m=ridge: to_price(m.predict(X)), "fit_s": time.perf_counter() - start,
                                         "config": f"alpha={best_ridge['alpha']}"}
        start = time.perf_counter()
        hgb = fit_hgb(X_train, y_train, best_hgb["params"], args.seed)
        final["HistGradientBoosting (log1p target)"] = {"predict": lambda X, m=hgb: to_price(m.predict(X)),
                                                        "fit_s": time.perf_counter() - start, "config": str(best_hgb["params"])}
        residual, _, seconds = train_residual(train_full, None, final_settings, args, os.path.join(tmp, "final"))
        n_params = sum(p.numel() for p in residual.parameters())
        final["ResidualRegressorForPriceRegression (PricerTrainer)"] = {
            "predict": lambda X, m=residual: predict_residual(m, X),
            "fit_s": seconds,
            "config": (
                f"num_layers={final_settings['num_layers']}, hidden_size={final_settings['hidden_size']} ({n_params:,} params), "
                f"dropout {final_settings['dropout']}, L1 on standardized log price, AdamW lr {final_settings['learning_rate']} "
                f"wd 0.01, cosine, clip 1.0, batch {final_settings['batch_size']}, {final_settings['epochs']} epochs, fp32"
            ),
        }
        print(f"final residual: {final_settings} trained in {seconds:.0f} s", flush=True)

    tables = {"test": {}, "ood": {}}
    for name, entry in final.items():
        tables["test"][name] = hf_pricer.price_metrics(entry["predict"](X_test), y_test)
        if X_ood is not None:
            tables["ood"][name] = hf_pricer.price_metrics(entry["predict"](X_ood), y_ood)
        print(f"{name}: test {tables['test'][name]}", flush=True)

    total = time.perf_counter() - run_start
    ood_report = ood_reports.get("train")
    meta = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sklearn": __import__("sklearn").__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "in_distribution": os.path.relpath(os.path.abspath(in_path), REPO_ROOT),
        "ood": os.path.relpath(os.path.abspath(ood_path), REPO_ROOT) if ood is not None else None,
        "n_train": len(train_full),
        "n_fit": len(fit_items),
        "n_val": len(val_items),
        "n_test": len(test),
        "n_ood": len(ood) if ood is not None else 0,
        "ood_skipped": (ood_report.summary() if hasattr(ood_report, "summary") else str(ood_report)) if ood_report else None,
        "processor": {k: v for k, v in processor.to_dict().items() if not k.startswith("_") and k != "feature_extractor_type"},
        "total_runtime_s": total,
        "foreign_cpu_share": foreign_cpu_share(run_sample, cpu_sample()),
    }
    models = {name: {"config": entry["config"], "fit_s": entry["fit_s"]} for name, entry in final.items()}
    os.makedirs(args.out, exist_ok=True)
    stem = "residual_accuracy_quick" if args.quick else "residual_accuracy"
    payload = {"meta": meta, "models": models, "selection": selection, "final_residual_settings": final_settings, "tables": tables}
    with open(os.path.join(args.out, stem + ".json"), "w") as handle:
        json.dump(payload, handle, indent=2, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as handle:
        handle.write(render_markdown(payload))
    print(f"wrote {os.path.join(args.out, stem)}.{{md,json}} in {total:.0f} s", flush=True)
    return 0


def _table(rows):
    lines = [
        "| model | SMAPE (%) | MAE ($) | hit rate (%) | RMSLE | R² |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['smape']:.2f} | {m['mae']:.2f} | {m['hit_rate']:.1f} | {m['rmsle']:.3f} | {m['r2']:.3f} |")
    return lines


def render_markdown(payload):
    meta, models, selection, tables = payload["meta"], payload["models"], payload["selection"], payload["tables"]
    lines = [
        "# Residual regressor: accuracy vs baselines",
        "",
        f"- command: `{meta['command']}` (from the repo root)",
        f"- date: {meta['date']}; total runtime {meta['total_runtime_s']:.0f} s (other processes used "
        f"{100 * meta['foreign_cpu_share']:.0f}% of the machine's CPU time meanwhile; times are wall-clock on a shared machine)",
        f"- torch {meta['torch']}, transformers {meta['transformers']}, scikit-learn {meta['sklearn']}, Python {meta['python']}; "
        f"{meta['cpu_count']} CPU cores, torch threads {meta['torch_threads']}",
        f"- in-distribution data: `{meta['in_distribution']}`, `load_items(path, test_size=0.2, seed=42)`: "
        f"{meta['n_train']} train / {meta['n_test']} test; model selection on a {meta['n_fit']} / {meta['n_val']} "
        "fit/validation split of the training split (seed 42); final models refit on all training items",
        f"- features: `ResidualRegressorProcessor()` {meta['processor']}",
        "- hit rate: share of predictions within $40 or within 20% of the true price",
        "",
        f"## Test set ({meta['n_test']} items, appliances)",
        "",
        *_table(tables["test"]),
        "",
    ]
    if tables["ood"]:
        lines += [
            f"## Out of distribution: `{meta['ood']}` ({meta['n_ood']} items, same fitted models, no retraining)",
            "",
            *_table(tables["ood"]),
            "",
            f"Rows skipped by `load_items`: {meta['ood_skipped']}",
            "",
        ]
    lines += ["## Models (final fits)", "", "| model | configuration | fit time (s) |", "|---|---|---:|"]
    for name, entry in models.items():
        lines.append(f"| {name} | {entry['config']} | {entry['fit_s']:.1f} |")
    lines += ["", "## Model selection (validation split, never the test set)", ""]
    lines.append("Ridge alpha: " + ", ".join(f"{r['alpha']}: SMAPE {r['smape']:.2f}" for r in selection["ridge"]))
    lines.append("")
    lines.append(
        "HistGradientBoosting (learning_rate 0.1, max_leaf_nodes 15; boosting iterations: val SMAPE): "
        + ", ".join(f"{r['params']['max_iter']}: {r['smape']:.2f}" for r in selection["hgb"])
    )
    lines += ["", "| residual config | lr | train time (s) | best epoch | val SMAPE | val MAE | val SMAPE per epoch |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in selection["residual"]:
        s = r["settings"]
        lines.append(
            f"| {s['num_layers']} layers x {s['hidden_size']}, dropout {s['dropout']}, batch {s['batch_size']}, {s['epochs']} epochs | "
            f"{s['learning_rate']} | {r['train_s']:.0f} | {r['best_epoch']} | {r['best']['smape']:.2f} | {r['best']['mae']:.2f} | "
            + " ".join(f"{c['smape']:.1f}" for c in r["curve"])
            + " |"
        )
    lines += [
        "",
        "The selected residual configuration is retrained from scratch on all training items for its best validation "
        "epoch count (the cosine schedule then spans those epochs).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
