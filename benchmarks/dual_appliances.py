"""The dual-encoder price model on real listings WITHOUT images (text path), against the residual benchmark.

    python benchmarks/dual_appliances.py           # full run (~5 min on 2 CPU cores)
    python benchmarks/dual_appliances.py --quick   # smoke run (200 items, 1+1 epochs), results to *_quick.*

Data (read-only, never copied): `../shared/data/items/appliances_2000.jsonl`, split 80/20 with seed 42 by
`hf_pricer.load_items(path, test_size=0.2, seed=42)` (1,600 train / 400 test), the same test set as
`benchmarks/residual_accuracy.py`; a validation split (15% of train, seed 42, as there) picks the best epoch.
The items have no image column, so every row takes the model's missing-image path (learned placeholder, the
image encoder never runs). The script prints a message and exits 0 when `../shared/data` is absent.

Model and strategy: `recipes/train_dual.py` with `recipes/configs/dual_cpu.yaml` (fused `tokens` model,
all-MiniLM-L6-v2 + EfficientNet-Lite0, SMAPE loss, encoders frozen for `--freeze-epochs`, then per-module
learning rates), trained on the 1,360-item fit split with one validation per epoch and the best epoch restored
(the same training function as `benchmarks/dual_ablation.py`). Unlike `residual_accuracy.py` the final model is
NOT refit on all 1,600 training items (time budget); it sees 15% less training data than the residual rows.

Results: benchmarks/results/dual_appliances.{md,json}; the comparison rows are read from
`benchmarks/results/residual_accuracy.json`.
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

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA_DIR = os.path.join(REPO_ROOT, "..", "shared", "data")
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder holding items/appliances_2000.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--val-size", type=float, default=0.15)
    parser.add_argument("--epochs", type=float, default=5, help="num_train_epochs (preset: 5)")
    parser.add_argument("--freeze-epochs", type=float, default=2, help="epochs with both encoders frozen (preset: 2)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--image-encoder-lr", type=float, default=1e-4)
    parser.add_argument("--text-encoder-lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-ratio", type=float, default=0.0)
    parser.add_argument("--lr-scheduler-type", default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    in_path = os.path.join(args.data_dir, "items", "appliances_2000.jsonl")
    if not os.path.isdir(args.data_dir) or not os.path.isfile(in_path):
        print(f"SKIPPED: real data not found at {os.path.abspath(in_path)} (this benchmark needs ../shared/data)")
        return 0
    if args.quick:
        args.epochs, args.freeze_epochs = 2, 1
    # fields `dual_ablation.recipe_flags` reads; the image size is irrelevant here (no item has an image)
    args.catalog_size, args.image_size = 0, 160

    import torch
    import transformers

    import hf_pricer
    from dual_ablation import METRIC_KEYS, train_variant
    from residual_throughput import _cpu_name, cpu_sample, foreign_cpu_share

    logging.getLogger("hf_pricer").setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else "benchmarks/dual_appliances.py"
    command = " ".join(["python", script] + (sys.argv[1:] if argv is None else list(argv)))
    run_start = time.perf_counter()
    run_sample = cpu_sample()

    splits = hf_pricer.load_items(in_path, test_size=0.2, seed=args.seed)
    train_full, test = splits["train"], splits["test"]
    inner = train_full.train_test_split(test_size=args.val_size, seed=args.seed)
    fit, val = inner["train"], inner["test"]
    if args.quick:
        fit, val, test = fit.select(range(64)), val.select(range(32)), test.select(range(32))
    print(f"data: fit {len(fit)} / val {len(val)} / test {len(test)}; torch threads {torch.get_num_threads()}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        result = train_variant("tokens", args, {"train": fit, "validation": val, "test": test}, os.path.join(tmp, "dual"))
    print(
        f"dual (text path): {result['train_s']:.0f} s, best val epoch {result['best_epoch']}, val SMAPE "
        + " ".join(f"{c['smape']:.1f}" for c in result["curve"])
        + f" | test {result['test']}",
        flush=True,
    )

    residual_path = os.path.join(DEFAULT_OUT, "residual_accuracy.json")
    residual = None
    if os.path.isfile(residual_path):
        with open(residual_path) as handle:
            residual = json.load(handle)

    meta = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "data": os.path.relpath(os.path.abspath(in_path), REPO_ROOT),
        "n_fit": len(fit),
        "n_val": len(val),
        "n_test": len(test),
        "settings": {k: getattr(args, k) for k in ("epochs", "freeze_epochs", "learning_rate", "image_encoder_lr",
                                                  "text_encoder_lr", "batch_size", "warmup_ratio", "lr_scheduler_type")},
        "total_runtime_s": time.perf_counter() - run_start,
        "foreign_cpu_share": foreign_cpu_share(run_sample, cpu_sample()),
        "residual_results": os.path.relpath(residual_path, REPO_ROOT) if residual else None,
        "residual_date": residual["meta"]["date"] if residual else None,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = "dual_appliances_quick" if args.quick else "dual_appliances"
    payload = {"meta": meta, "dual": result, "residual_test": residual["tables"]["test"] if residual else None,
               "residual_models": residual["models"] if residual else None}
    with open(os.path.join(args.out, stem + ".json"), "w") as handle:
        json.dump(payload, handle, indent=2, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as handle:
        handle.write(render_markdown(payload, METRIC_KEYS))
    print(f"wrote {os.path.join(args.out, stem)}.{{md,json}} in {meta['total_runtime_s']:.0f} s", flush=True)
    return 0


def render_markdown(payload, metric_keys):
    meta, dual = payload["meta"], payload["dual"]
    s = meta["settings"]
    lines = [
        "# Dual encoder on real listings without images (text path) vs the residual benchmark",
        "",
        f"- command: `{meta['command']}` (from the repo root)",
        f"- date: {meta['date']}; total runtime {meta['total_runtime_s']:.0f} s (other processes used "
        f"{100 * meta['foreign_cpu_share']:.0f}% of the machine's CPU time meanwhile)",
        f"- torch {meta['torch']}, transformers {meta['transformers']}, Python {meta['python']}; {meta['cpu']}, "
        f"{meta['cpu_count']} CPU cores, torch threads {meta['torch_threads']}",
        f"- data: `{meta['data']}`, `load_items(path, test_size=0.2, seed=42)`; the dual model trains on a "
        f"{meta['n_fit']}-item fit split and picks its epoch on a {meta['n_val']}-item validation split (15% of train, "
        f"seed 42, the split `residual_accuracy.py` selects on); test: the same {meta['n_test']} items as the residual "
        "benchmark. No item has an image: every row uses the learned missing-image placeholder.",
        f"- dual model: `recipes/configs/dual_cpu.yaml` (fused `tokens`, all-MiniLM-L6-v2 + EfficientNet-Lite0, SMAPE "
        f"loss, max 128 tokens, bf16), {s['epochs']:g} epochs ({s['freeze_epochs']:g} with the encoders frozen), lr "
        f"{s['learning_rate']:g} (text encoder {s['text_encoder_lr']:g}), batch {s['batch_size']}, "
        f"{s['lr_scheduler_type'] or 'linear'} decay; best validation epoch {dual['best_epoch']} restored "
        f"(validation SMAPE per epoch: {' '.join(format(c['smape'], '.1f') for c in dual['curve'])}); "
        f"training {dual['train_s']:.0f} s. NOT refit on all 1,600 training items, unlike the residual rows.",
        "",
        f"## Test set ({meta['n_test']} items, appliances)",
        "",
        "| model | SMAPE (%) | MAE ($) | hit rate (%) | RMSLE | R² | source |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    m = dual["test"]
    lines.append(f"| DualEncoderForPriceRegression, text path (this run) | {m['smape']:.2f} | {m['mae']:.2f} | "
                 f"{m['hit_rate']:.1f} | {m['rmsle']:.3f} | {m['r2']:.3f} | this run |")
    for name, m in (payload["residual_test"] or {}).items():
        lines.append(f"| {name} | {m['smape']:.2f} | {m['mae']:.2f} | {m['hit_rate']:.1f} | {m['rmsle']:.3f} | "
                     f"{m['r2']:.3f} | `{meta['residual_results']}` ({meta['residual_date']}) |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
