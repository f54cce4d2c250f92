"""The dual encoder's text representation on real listings: `[CLS]` vs mean pooling, with and without
layer-wise learning-rate decay, 3 seeds each, chosen on a validation split of the training data.

    python benchmarks/dual_pooling.py                 # both files, 4 variants x 3 seeds
    python benchmarks/dual_pooling.py --render-only   # tables again from the JSON

Data: `appliances_2000.jsonl` and `amazon_products_mit.jsonl` split by
`load_items(path, test_size=0.2, seed=42)`; the training split is split again 80/20 (seed 42) into a fit and a
validation part. Each variant trains the text path (`modalities=text`; the listings have no images) with the
strategy of `recipes/train_dual.py` + `dual_cpu.yaml` under a small CPU budget (`--epochs`, encoders frozen
for `--freeze-epochs`, `--max-text-length` tokens); the epoch with the best validation SMAPE is kept. Choices
are read from the validation SMAPE (mean ± std over seeds); the test SMAPE of the same models is shown for
information only. Results: benchmarks/results/dual_pooling.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# benchmarks/ is no package
from price_real import DEFAULT_DATA_DIR, FILES, RESULTS, nothing_to_run  # noqa: E402


def variants(layer_lr_decay):
    decay = ["--layer_lr_decay", str(layer_lr_decay), "--layer_lr_decay_modules", "text_encoder"]
    base = {"cross_attention": "tokens", "modalities": "text"}
    return {
        "cls": {**base, "label": "`[CLS]`", "flags": ["--text_pooling", "cls"]},
        "mean": {**base, "label": "mean pooling", "flags": ["--text_pooling", "mean"]},
        "cls+llrd": {
            **base,
            "label": f"`[CLS]`, layer decay {layer_lr_decay}",
            "flags": ["--text_pooling", "cls", *decay],
        },
        "mean+llrd": {
            **base,
            "label": f"mean pooling, layer decay {layer_lr_decay}",
            "flags": ["--text_pooling", "mean", *decay],
        },
    }


def render(results):
    lines = [
        "# Dual encoder text path: [CLS] vs mean pooling, layer-wise learning-rate decay",
        "",
        f"Command: `{results['command']}`; {results['date']}; {results['machine']}.",
        "",
        f"Budget per run: {results['settings']}. Validation = 20 % of the training split (seed 42); the test "
        "split is shown for information, never used to choose. Mean ± std over seeds "
        f"{results['seeds']}; SMAPE in %.",
        "",
    ]
    for name, file_result in results["files"].items():
        lines += [
            f"## {name} (fit {file_result['n_fit']} / validation {file_result['n_val']} / test "
            f"{file_result['n_test']})",
            "",
            "| variant | validation SMAPE | test SMAPE | train s per run | other processes' CPU share |",
            "|---|---|---|---|---|",
        ]
        best = min(file_result["variants"], key=lambda v: np.mean(file_result["variants"][v]["val_smape"]))
        for variant, runs in file_result["variants"].items():
            val, test = np.array(runs["val_smape"]), np.array(runs["test_smape"])
            mark = " **(best on validation)**" if variant == best else ""
            lines.append(
                f"| {runs['label']}{mark} | {val.mean():.2f} ± {val.std():.2f} | {test.mean():.2f} ± "
                f"{test.std():.2f} | {np.mean(runs['train_s']):.0f} | "
                f"{100 * np.mean(runs['foreign_cpu_share']):.0f} % |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("HF_PRICER_ITEMS_DIR", DEFAULT_DATA_DIR))
    parser.add_argument("--files", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--freeze-epochs", type=float, default=1)
    parser.add_argument("--max-text-length", type=int, default=64)
    parser.add_argument("--text-encoder-lr", type=float, default=5e-5)
    parser.add_argument("--layer-lr-decay", type=float, default=0.8)
    parser.add_argument("--out", default=RESULTS)
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    json_path, md_path = (
        os.path.join(args.out, "dual_pooling.json"),
        os.path.join(args.out, "dual_pooling.md"),
    )
    if nothing_to_run(args, json_path, md_path, render):
        return

    import torch
    import transformers
    from dual_ablation import train_variant
    from residual_throughput import _cpu_name, cpu_sample, foreign_cpu_share

    import hf_pricer

    transformers.utils.logging.set_verbosity_error()
    # the fields `dual_ablation.recipe_flags` reads, for text-only listings
    budget = argparse.Namespace(
        catalog_size=0,
        image_size=160,
        epochs=args.epochs,
        freeze_epochs=args.freeze_epochs,
        learning_rate=1e-3,
        image_encoder_lr=1e-4,
        text_encoder_lr=args.text_encoder_lr,
        batch_size=32,
        warmup_ratio=0.0,
        lr_scheduler_type=None,
    )
    table = variants(args.layer_lr_decay)
    for variant in table.values():
        variant["flags"] += ["--max_text_length", str(args.max_text_length)]
    results = {
        "command": "python benchmarks/dual_pooling.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(),
        "machine": f"{_cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), Python {platform.python_version()}",
        "settings": f"{args.epochs:g} epochs ({args.freeze_epochs:g} with the encoders frozen), "
        f"{args.max_text_length} tokens, text encoder lr {args.text_encoder_lr:g}, fusion lr 1e-3, batch 32, "
        "SMAPE loss, bf16",
        "seeds": args.seeds,
        "files": {},
    }
    for name in args.files:
        items = hf_pricer.load_items(os.path.join(args.data_dir, FILES[name]), test_size=0.2, seed=42)
        inner = items["train"].train_test_split(test_size=0.2, seed=42)
        splits = {"train": inner["train"], "validation": inner["test"], "test": items["test"]}
        file_result = {
            "n_fit": len(inner["train"]),
            "n_val": len(inner["test"]),
            "n_test": len(items["test"]),
            "variants": {},
        }
        for variant, spec in table.items():
            runs = {
                "label": spec["label"],
                "val_smape": [],
                "test_smape": [],
                "train_s": [],
                "foreign_cpu_share": [],
            }
            for seed in args.seeds:
                budget.seed = seed
                sample = cpu_sample()
                with tempfile.TemporaryDirectory() as output_dir:
                    run = train_variant(variant, budget, splits, output_dir, variants=table)
                runs["foreign_cpu_share"].append(foreign_cpu_share(sample, cpu_sample()))
                runs["val_smape"].append(run["val"]["smape"])
                runs["test_smape"].append(run["test"]["smape"])
                runs["train_s"].append(run["train_s"])
                print(
                    f"{name} {variant} seed {seed}: validation SMAPE {run['val']['smape']:.2f} "
                    f"({run['train_s']:.0f} s)",
                    flush=True,
                )
            file_result["variants"][variant] = runs
            results["files"][name] = file_result
            os.makedirs(args.out, exist_ok=True)
            with open(json_path, "w", encoding="utf-8") as handle:
                json.dump(results, handle, indent=1)
            with open(md_path, "w", encoding="utf-8") as handle:
                handle.write(render(results))
    print(f"results in {md_path}")


if __name__ == "__main__":
    main()
