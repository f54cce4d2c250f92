"""Modality / fusion ablation of the dual-encoder price model on the embedded synthetic catalog.

    python benchmarks/dual_ablation.py                        # recipe budget (dual_cpu.yaml), 4 variants
    python benchmarks/dual_ablation.py --quick                # smoke run (tiny catalog, 64 px), results to *_quick.*
    python benchmarks/dual_ablation.py --budget b2 --epochs 8 --learning-rate 2e-3 --append
                                                              # another shared budget, added to the same results

Every variant is trained with the strategy of `recipes/train_dual.py` and its CPU preset
`recipes/configs/dual_cpu.yaml` (the arguments are parsed by the recipe's own parser, with the preset as
defaults): all-MiniLM-L6-v2 + EfficientNet-Lite0 (ImageNet), SMAPE loss, AdamW, encoders frozen for the first
`--freeze-epochs` epochs (`FreezeWarmupCallback`), then everything trains with image encoder 1e-4 / text encoder
2e-5 / fusion and head `--learning-rate`, bf16 autocast, batch 32, linear decay, one validation per epoch and the
best validation epoch restored at the end (`load_best_model_at_end`, SMAPE). The trainer is built here from the
recipe's pieces (`train_dual.build_model`, `build_processor`, the same callbacks and per-module learning rates)
so that the catalog is generated once and the test split can be scored; checkpoints keep only the model
(`save_only_model`), which changes nothing in training.

Variants (same data, same split, same budget):
    tokens  the default fused model (image vector attends to the projected text tokens)
    pooled  the fusion as designed (image vector attends to the projected [CLS] only)
    text    `modalities=text`  (the image encoder never runs; learned placeholder instead)
    image   `modalities=image` (the text encoder never runs)

Data: `load_items("catalog", catalog_size=N, with_images=True, image_size=S, seed=42)`, split 80/10/10 into
train / validation / test. Model selection (best epoch, and the choice between budgets) uses the validation
split only; the test split is scored once per trained model, at its restored best epoch.

Results: benchmarks/results/dual_ablation.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

VARIANTS = {
    "tokens": {"cross_attention": "tokens", "modalities": "both", "label": "fused, `tokens` cross-attention (default)"},
    "pooled": {"cross_attention": "pooled", "modalities": "both", "label": "fused, `pooled` cross-attention (as designed)"},
    "text": {"cross_attention": "tokens", "modalities": "text", "label": "text only (`modalities=text`)"},
    "image": {"cross_attention": "tokens", "modalities": "image", "label": "image only (`modalities=image`)"},
}
METRIC_KEYS = ("smape", "mae", "hit_rate", "rmsle", "r2")


def recipe_flags(args, variant, output_dir):
    """Flags for the recipe's parser (on top of `dual_cpu.yaml`) for one variant under the current budget (and
    the variant's own extra `flags`)."""
    flags = [
        "--output_dir", output_dir,
        "--catalog_size", str(args.catalog_size),
        "--image_size", str(args.image_size),
        "--cross_attention", variant["cross_attention"],
        "--modalities", variant["modalities"],
        "--num_train_epochs", str(args.epochs),
        "--freeze_encoder_epochs", str(args.freeze_epochs),
        "--learning_rate", str(args.learning_rate),
        "--image_encoder_lr", str(args.image_encoder_lr),
        "--text_encoder_lr", str(args.text_encoder_lr),
        "--per_device_train_batch_size", str(args.batch_size),
        "--seed", str(args.seed),
        "--save_only_model", "true",
        "--disable_tqdm", "true",
        "--logging_strategy", "epoch",
    ]
    if args.warmup_ratio:
        flags += ["--warmup_ratio", str(args.warmup_ratio)]
    if args.lr_scheduler_type:
        flags += ["--lr_scheduler_type", args.lr_scheduler_type]
    return flags + list(variant.get("flags", ()))


def train_variant(name, args, splits, output_dir, variants=VARIANTS):
    """Train one variant with the recipe's strategy; returns a result dict (validation curve, test metrics, times)."""
    import torch
    import transformers
    from transformers import EarlyStoppingCallback, set_seed

    import hf_pricer
    import train_dual
    from hf_pricer.cli import parse_recipe_args

    variant = variants[name]
    model_args, encoders, data_args, strategy, training_args = parse_recipe_args(
        train_dual.ARGUMENT_TYPES, train_dual.CPU_PRESET, recipe_flags(args, variant, output_dir)
    )
    set_seed(training_args.seed)
    train_items, val_items, test_items = splits["train"], splits["validation"], splits["test"]
    model = train_dual.build_model(model_args, encoders, *hf_pricer.log_price_statistics(train_items))
    processor = train_dual.build_processor(encoders, data_args, model)
    training_args.module_learning_rates = {
        "image_encoder": strategy.image_encoder_lr,
        "text_encoder": strategy.text_encoder_lr,
        **(training_args.module_learning_rates or {}),
    }
    callbacks = []
    if strategy.freeze_encoder_epochs > 0:
        callbacks.append(
            hf_pricer.FreezeWarmupCallback.for_modules(["image_encoder", "text_encoder"], strategy.freeze_encoder_epochs)
        )
    if strategy.early_stopping_patience and training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=strategy.early_stopping_patience))
    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        eval_dataset=val_items,
        data_collator=hf_pricer.DualEncoderCollator(processor, train=True),
        processing_class=processor,
        compute_metrics=hf_pricer.compute_metrics,
        callbacks=callbacks,
    )
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.ProgressCallback)
    start = time.perf_counter()
    output = trainer.train()
    train_s = time.perf_counter() - start
    history = trainer.state.log_history
    curve = [
        {"epoch": round(h["epoch"], 2), **{k: h[f"eval_{k}"] for k in METRIC_KEYS}, "eval_s": h.get("eval_runtime")}
        for h in history
        if "eval_smape" in h
    ]
    train_loss = [{"epoch": round(h["epoch"], 2), "loss": h["loss"]} for h in history if "loss" in h]
    start = time.perf_counter()
    val = trainer.predict(val_items, metric_key_prefix="val").metrics
    test = trainer.predict(test_items, metric_key_prefix="test").metrics
    predict_s = time.perf_counter() - start
    best_epoch = min(curve, key=lambda c: c["smape"])["epoch"] if curve else None
    result = {
        "variant": name,
        "label": variant["label"],
        "config": {k: v for k, v in variant.items() if k != "label"},
        "params": model.num_parameters(),
        "train_s": train_s,
        "train_runtime_s": output.metrics.get("train_runtime"),
        "train_samples_per_second": output.metrics.get("train_samples_per_second"),
        "predict_s": predict_s,
        "best_epoch": best_epoch,
        "curve": curve,
        "train_loss": train_loss,
        "val": {k: val[f"val_{k}"] for k in METRIC_KEYS},
        "test": {k: test[f"test_{k}"] for k in METRIC_KEYS},
        "images_skipped": processor.image_report.summary() if processor.image_report.skipped else None,
        "bf16": training_args.bf16,
        "steps": trainer.state.global_step,
    }
    del trainer, model
    torch.set_grad_enabled(True)
    return result


def reference_rows(splits):
    """Non-learned references on the test split: the constant median training price and the catalog's oracle
    (its generative model, from the stored true factors) with and without the image-only factors."""
    import hf_pricer

    train, test = splits["train"], splits["test"]
    y = np.asarray(test["price"], dtype=np.float64)
    median = float(np.median(train["price"]))
    log_text = np.asarray(test["attr_log_price_text"])
    log_image = np.asarray(test["attr_log_price_image"])
    mean_image = float(np.mean(train["attr_log_price_image"]))
    mean_text = float(np.mean(train["attr_log_price_text"]))
    clip = lambda v: np.clip(np.exp(v), 2, 2000)  # noqa: E731  (the catalog's price clip)
    return {
        "constant median training price": hf_pricer.price_metrics(np.full(len(y), median), y),
        "oracle: true text factors only (image part at its training mean)": hf_pricer.price_metrics(clip(log_text + mean_image), y),
        "oracle: true image factors only (text part at its training mean)": hf_pricer.price_metrics(clip(log_image + mean_text), y),
        "oracle: all true factors (noise only)": hf_pricer.price_metrics(clip(log_text + log_image), y),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog-size", type=int, default=1500)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--budget", default="recipe", help="name of this shared budget in the results")
    parser.add_argument("--epochs", type=float, default=5, help="num_train_epochs (preset: 5)")
    parser.add_argument("--freeze-epochs", type=float, default=2, help="epochs with both encoders frozen (preset: 2)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="fusion/head learning rate (preset: 1e-3)")
    parser.add_argument("--image-encoder-lr", type=float, default=1e-4)
    parser.add_argument("--text-encoder-lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup-ratio", type=float, default=0.0)
    parser.add_argument("--lr-scheduler-type", default=None, help="default: the preset's (linear)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--append", action="store_true", help="add this budget to the existing results instead of replacing them")
    parser.add_argument("--quick", action="store_true", help="smoke run: 150 items, 64 px, 2 epochs (1 frozen)")
    parser.add_argument("--notes", help="markdown file whose text becomes the 'Observations' section of the results")
    parser.add_argument("--render-only", action="store_true", help="only re-render the .md from the existing .json (with --notes)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.catalog_size, args.image_size, args.epochs, args.freeze_epochs = 150, 64, 2, 1
    stem = "dual_ablation_quick" if args.quick else "dual_ablation"
    if args.render_only:
        with open(os.path.join(args.out, stem + ".json")) as handle:
            payload = json.load(handle)
        if args.notes:
            with open(args.notes) as handle:
                payload["notes"] = handle.read().strip()
        with open(os.path.join(args.out, stem + ".json"), "w") as handle:
            json.dump(payload, handle, indent=2, default=str)
        with open(os.path.join(args.out, stem + ".md"), "w") as handle:
            handle.write(render_markdown(payload))
        print(f"re-rendered {os.path.join(args.out, stem)}.md")
        return 0

    import torch
    import transformers

    import hf_pricer
    from residual_throughput import _cpu_name, cpu_sample, foreign_cpu_share

    logging.getLogger("hf_pricer").setLevel(logging.ERROR)
    transformers.utils.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else "benchmarks/dual_ablation.py"
    command = " ".join(["python", script] + (sys.argv[1:] if argv is None else list(argv)))
    run_start = time.perf_counter()
    run_sample = cpu_sample()

    start = time.perf_counter()
    splits = hf_pricer.load_items(
        "catalog", catalog_size=args.catalog_size, with_images=True, image_size=args.image_size, seed=args.seed
    )
    data_s = time.perf_counter() - start
    sizes = {name: len(split) for name, split in splits.items()}
    print(f"catalog: {sizes} at {args.image_size} px in {data_s:.0f} s; torch threads {torch.get_num_threads()}", flush=True)

    meta = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "timm": __import__("timm").__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "catalog_size": args.catalog_size,
        "image_size": args.image_size,
        "split_sizes": sizes,
        "seed": args.seed,
        "catalog_generation_s": data_s,
    }
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, stem + ".json")
    payload = {"meta": meta, "references": reference_rows(splits), "budgets": []}
    if args.append and os.path.isfile(json_path):
        with open(json_path) as handle:
            previous = json.load(handle)
        keys = ("catalog_size", "image_size", "seed")
        if {k: previous["meta"].get(k) for k in keys} != {k: meta[k] for k in keys}:
            raise SystemExit(f"--append: {json_path} was made on other data ({previous['meta']}); use another --out")
        payload["budgets"] = [b for b in previous["budgets"] if b["name"] != args.budget]
        payload["notes"] = previous.get("notes")
        # the same budget name: its finished variants are kept, unless re-run now (settings must match)
        earlier = next((b for b in previous["budgets"] if b["name"] == args.budget), None)
    else:
        earlier = None
    if args.notes:
        with open(args.notes) as handle:
            payload["notes"] = handle.read().strip()
    budget = {
        "name": args.budget,
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": {
            "epochs": args.epochs,
            "freeze_encoder_epochs": args.freeze_epochs,
            "learning_rate": args.learning_rate,
            "image_encoder_lr": args.image_encoder_lr,
            "text_encoder_lr": args.text_encoder_lr,
            "batch_size": args.batch_size,
            "warmup_ratio": args.warmup_ratio,
            "lr_scheduler_type": args.lr_scheduler_type or "linear (preset default)",
        },
        "variants_requested": list(args.variants),
        "results": [],
    }
    if earlier is not None:
        if earlier["settings"] != budget["settings"]:
            raise SystemExit(f"--append: budget {args.budget!r} exists with other settings {earlier['settings']}; use another --budget")
        budget["results"] = [r for r in earlier["results"] if r["variant"] not in args.variants]
        budget["variants_requested"] = list(dict.fromkeys(earlier.get("variants_requested", []) + list(args.variants)))
        budget["command"] = earlier["command"] + "` + `" + command
        budget["earlier_runtime_s"] = earlier.get("runtime_s", 0) + earlier.get("earlier_runtime_s", 0)
    payload["budgets"].append(budget)

    def write():
        """Results so far (written after every variant, so an interrupted run keeps what it finished)."""
        budget["runtime_s"] = time.perf_counter() - run_start
        budget["foreign_cpu_share"] = foreign_cpu_share(run_sample, cpu_sample())
        with open(json_path, "w") as handle:
            json.dump(payload, handle, indent=2, default=str)
        with open(os.path.join(args.out, stem + ".md"), "w") as handle:
            handle.write(render_markdown(payload))

    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            sample = cpu_sample()
            result = train_variant(name, args, splits, os.path.join(tmp, name))
            result["foreign_cpu_share"] = foreign_cpu_share(sample, cpu_sample())
            budget["results"].append(result)
            print(
                f"[{args.budget}] {name}: {result['train_s']:.0f} s, best val epoch {result['best_epoch']}, val SMAPE "
                + " ".join(f"{c['smape']:.1f}" for c in result["curve"])
                + f" | test SMAPE {result['test']['smape']:.2f} MAE {result['test']['mae']:.2f} "
                f"hit {result['test']['hit_rate']:.1f} R2 {result['test']['r2']:.3f}",
                flush=True,
            )
            write()
    print(f"wrote {os.path.join(args.out, stem)}.{{md,json}}; this budget took {budget['runtime_s']:.0f} s", flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
def _fmt(value, spec):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _share(value):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f}%"


def _metric_table(rows, time_column=False):
    head = "| model | SMAPE (%) | MAE ($) | hit rate (%) | RMSLE | R² |" + (" train time (s) |" if time_column else "")
    rule = "|---|---:|---:|---:|---:|---:|" + ("---:|" if time_column else "")
    lines = [head, rule]
    for name, m, seconds in rows:
        line = f"| {name} | {m['smape']:.2f} | {m['mae']:.2f} | {m['hit_rate']:.1f} | {m['rmsle']:.3f} | {m['r2']:.3f} |"
        lines.append(line + (f" {_fmt(seconds, '.0f')} |" if time_column else ""))
    return lines


def select_budget(budgets):
    """The budget whose best fused (`tokens`) model has the lowest validation SMAPE (validation only)."""
    scored = [b for b in budgets if any(r["variant"] == "tokens" for r in b["results"])]
    if not scored:
        return budgets[-1]
    return min(scored, key=lambda b: next(r for r in b["results"] if r["variant"] == "tokens")["val"]["smape"])


def render_markdown(payload):
    meta, budgets = payload["meta"], payload["budgets"]
    chosen = select_budget(budgets)
    lines = [
        "# Dual encoder: fusion and modality ablation (synthetic catalog)",
        "",
        "- commands (from the repo root; each budget is one run, later ones added with `--append`):",
        *[f"  - `{b['command']}` ({b['date']}, {b['runtime_s'] / 60:.1f} min, other processes used "
          f"{_share(b.get('foreign_cpu_share'))} of the machine's CPU time meanwhile)" for b in budgets],
        f"- torch {meta['torch']}, transformers {meta['transformers']}, timm {meta['timm']}, Python {meta['python']}; "
        f"{meta['cpu']}, {meta['cpu_count']} CPU cores, torch threads {meta['torch_threads']}; times are wall-clock "
        "on a shared machine",
        f"- data: `load_items(\"catalog\", catalog_size={meta['catalog_size']}, with_images=True, "
        f"image_size={meta['image_size']}, seed={meta['seed']})`, split 80/10/10: {meta['split_sizes']}; the same split "
        "for every variant and budget",
        "- model and strategy: `recipes/train_dual.py` with its CPU preset `recipes/configs/dual_cpu.yaml` "
        "(all-MiniLM-L6-v2 + EfficientNet-Lite0 ImageNet, projection 256, head [384, 192, 96], dropout 0.2, SMAPE loss, "
        "max 128 tokens, batch 32, AdamW wd 1e-4, clip 1.0, bf16 autocast, encoders frozen for the first epochs by "
        "`FreezeWarmupCallback`, then image encoder / text encoder / rest at their own learning rates); one validation "
        "per epoch, the best validation epoch (SMAPE) restored at the end; test scored once per model at that epoch",
        "- hit rate: share of predictions within $40 or within 20% of the true price",
        "",
        f"## Test set ({meta['split_sizes'].get('test')} items): selected budget `{chosen['name']}`",
        "",
        f"Budget `{chosen['name']}`: {_budget_text(chosen['settings'])}. It is the budget whose fused `tokens` model "
        "has the best validation SMAPE; every variant was trained under it.",
        "",
        *_metric_table([(r["label"], r["test"], r["train_s"]) for r in chosen["results"]], time_column=True),
        "",
        "References (not trained; the oracles use the catalog's stored true factors and show the noise floor and "
        "what each modality can explain at best):",
        "",
        *_metric_table(list((name, m, None) for name, m in payload["references"].items())),
        "",
        "## Every budget (validation split: selection; test split: report)",
        "",
        "| budget | settings | variant | steps | train time (s) | other processes' CPU share | best epoch | val SMAPE per epoch | val SMAPE | test SMAPE | test MAE | test hit rate | test R² |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for b in budgets:
        missing = [v for v in b.get("variants_requested", []) if v not in {r["variant"] for r in b["results"]}]
        if missing:
            lines.append(f"| {b['name']} | {_budget_text(b['settings'])} | not run (time budget): {', '.join(missing)} | | | | | | | | | | |")
        for r in b["results"]:
            lines.append(
                f"| {b['name']} | {_budget_text(b['settings'])} | {r['variant']} | {r['steps']} | {r['train_s']:.0f} | "
                f"{_share(r.get('foreign_cpu_share'))} | {r['best_epoch']} | " + " ".join(f"{c['smape']:.1f}" for c in r["curve"]) +
                f" | {r['val']['smape']:.2f} | {r['test']['smape']:.2f} | {r['test']['mae']:.2f} | "
                f"{r['test']['hit_rate']:.1f} | {r['test']['r2']:.3f} |"
            )
    lines.append("")
    if payload.get("notes"):
        lines += ["## Observations", "", payload["notes"], ""]
    return "\n".join(lines)


def _budget_text(s):
    return (
        f"{_fmt(s['epochs'], 'g')} epochs ({_fmt(s['freeze_encoder_epochs'], 'g')} frozen), lr {s['learning_rate']:g} "
        f"(image enc. {s['image_encoder_lr']:g}, text enc. {s['text_encoder_lr']:g}), batch {s['batch_size']}, "
        f"{s['lr_scheduler_type']}" + (f", warmup {s['warmup_ratio']:g}" if s.get("warmup_ratio") else "")
    )


if __name__ == "__main__":
    sys.exit(main())
