"""Inference speed of the price models on a CPU: eager fp32, eager bf16 (autocast), ONNX fp32 and ONNX int8.

    python benchmarks/inference.py             # ~5 min on 2 cores (a quiet machine; it waits for one)
    python benchmarks/inference.py --quick     # smoke run, results to inference_quick.*

For the residual regressor and the dual encoder at their CPU preset sizes (`recipes/configs/residual_cpu.yaml`,
`dual_cpu.yaml`, built by the recipes' own code: MiniLM + EfficientNet-Lite0 at 160 px for the dual encoder), on
items of the embedded catalog (title, description and a 160 px product image): items/s at batch 1 and batch 64, and
p50/p95 latency at batch 1. A timed item goes through the model's processor (hashing, or tokenizing and image
resizing/normalising) and the model, as the `price-regression` pipeline does; the model's share of the time is
recorded apart, so a missed target shows whether preprocessing or the model holds it back. The ONNX folders are
written by `hf_pricer.exporters.export_onnx`, as `hf-pricer export` writes them. Weights are the presets' starting
ones (pretrained encoders, new heads): speed does not depend on them. Test-set accuracy of the int8 exports is
checked by `tests/exporters/test_onnx_accuracy.py`.

Results: benchmarks/results/inference.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import json
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

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModel  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.cli import parse_recipe_args  # noqa: E402
from hf_pricer.exporters import export_onnx  # noqa: E402
from residual_throughput import _cpu_name, cpu_sample, foreign_cpu_share, wait_for_quiet  # noqa: E402

CONFIGS = os.path.join(REPO_ROOT, "recipes", "configs")
VARIANTS = ("eager fp32", "eager bf16", "ONNX fp32", "ONNX int8")


def preset_model(name: str, output_dir: str, items):
    """`(model, processor)` as `recipes/train_<name>.py` builds them from its CPU preset."""
    from hf_pricer.data import log_price_statistics

    stats = log_price_statistics(items)
    if name == "residual":
        import train_residual

        model_args, _, data_args, _ = parse_recipe_args(train_residual.ARGUMENT_TYPES, args=[
            os.path.join(CONFIGS, "residual_cpu.yaml"), "--output_dir", output_dir])
        config = hf_pricer.ResidualRegressorConfig(**model_args.config_kwargs(), log_price_mean=stats[0],
                                                   log_price_std=stats[1])
        model = hf_pricer.ResidualRegressorForPriceRegression(config)
        processor = hf_pricer.ResidualRegressorProcessor(n_features=config.num_features, text_fields=data_args.text_fields)
        return model.eval(), processor
    import train_dual

    model_args, encoders, data_args, _, _ = parse_recipe_args(train_dual.ARGUMENT_TYPES, args=[
        os.path.join(CONFIGS, "dual_cpu.yaml"), "--output_dir", output_dir])
    model = train_dual.build_model(model_args, encoders, *stats)
    return model.eval(), train_dual.build_processor(encoders, data_args, model)


def runner(variant: str, model, folders):
    """A function batch → predictions for one variant."""
    if variant.startswith("ONNX"):
        exported = AutoModel.from_pretrained(folders[variant])
        return lambda batch: exported(**batch).predictions
    dtype_context = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if variant == "eager bf16" else torch.no_grad

    def run(batch):
        with torch.no_grad(), dtype_context():
            return model(**batch).predictions

    return run


def timed(run, processor, batches):
    """Per batch: (seconds in the processor, seconds in the model)."""
    times = []
    for items in batches:
        start = time.perf_counter()
        batch = processor.process_items(items)
        middle = time.perf_counter()
        run(batch)
        times.append((middle - start, time.perf_counter() - middle))
    return np.array(times)


def measure(variant, run, processor, items, args):
    single = [[item] for item in items[: args.items]]
    batched = [items[start: start + 64] for start in range(0, args.batches * 64, 64)]
    timed(run, processor, single[:5] + batched[:1])  # warm-up
    quiet = None if args.no_wait else wait_for_quiet()
    first = cpu_sample()
    one = timed(run, processor, single)
    middle = cpu_sample()
    many = timed(run, processor, batched)
    last = cpu_sample()
    total_one, total_many = one.sum(axis=1), many.sum(axis=1)
    row = {
        "variant": variant,
        "batch1_items_per_s": len(single) / total_one.sum(),
        "batch1_p50_ms": 1000 * float(np.percentile(total_one, 50)),
        "batch1_p95_ms": 1000 * float(np.percentile(total_one, 95)),
        "batch1_model_p50_ms": 1000 * float(np.percentile(one[:, 1], 50)),
        "batch1_preprocess_p50_ms": 1000 * float(np.percentile(one[:, 0], 50)),
        "batch1_model_items_per_s": len(single) / one[:, 1].sum(),
        "batch64_items_per_s": 64 * len(batched) / total_many.sum(),
        "batch64_model_items_per_s": 64 * len(batched) / many[:, 1].sum(),
        "batch64_preprocess_share": float(many[:, 0].sum() / total_many.sum()),
        "foreign_cpu_share_batch1": foreign_cpu_share(first, middle),
        "foreign_cpu_share_batch64": foreign_cpu_share(middle, last),
        "foreign_cpu_share_before": quiet,
    }
    print(f"  {variant}: batch 1 {row['batch1_items_per_s']:.1f} items/s (p50 {row['batch1_p50_ms']:.1f} ms, model "
          f"{row['batch1_model_p50_ms']:.1f} ms), batch 64 {row['batch64_items_per_s']:.1f} items/s; other processes "
          f"{100 * row['foreign_cpu_share_batch1']:.0f}%/{100 * row['foreign_cpu_share_batch64']:.0f}% CPU", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["residual", "dual"], choices=["residual", "dual"])
    parser.add_argument("--items", type=int, default=200, help="items timed one by one (batch 1)")
    parser.add_argument("--batches", type=int, default=4, help="batches of 64 timed")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for other processes to go quiet")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 items, 1 batch, results to *_quick.*")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.batches = 20, 1
    transformers.utils.logging.set_verbosity_error()
    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT), *sys.argv[1:]])
    started = time.perf_counter()
    catalog = hf_pricer.load_items("catalog", catalog_size=max(2000, 10 * (args.items + 64 * args.batches)),
                                   with_images=True, image_size=160)
    items = [dict(item) for item in catalog["test"].select(range(max(args.items, 64 * args.batches)))]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model, processor = preset_model(name, os.path.join(tmp, name), catalog["train"])
            folders = {"ONNX fp32": os.path.join(tmp, name, "fp32"), "ONNX int8": os.path.join(tmp, name, "int8")}
            export_onnx(model, folders["ONNX fp32"], processor=processor)
            export_onnx(model, folders["ONNX int8"], processor=processor, quantize="int8")
            print(f"{name}: {type(model).__name__}, {model.num_parameters():,} parameters", flush=True)
            rows = [measure(variant, runner(variant, model, folders), processor, items, args) for variant in VARIANTS]
            results[name] = {"model": type(model).__name__, "parameters": model.num_parameters(), "rows": rows,
                             "onnx_bytes": {v: os.path.getsize(os.path.join(f, "model.onnx")) for v, f in folders.items()}}
    meta = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "items_batch1": args.items,
        "batches_of_64": args.batches,
        "runtime_s": time.perf_counter() - started,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "inference_quick" if args.quick else "inference")
    with open(stem + ".json", "w") as handle:
        json.dump({"meta": meta, "results": results}, handle, indent=2)
    with open(stem + ".md", "w") as handle:
        handle.write(render(meta, results))
    print(f"wrote {stem}.{{md,json}} in {meta['runtime_s']:.0f} s")


def render(meta, results, target=3.0):
    lines = [
        "# Inference speed: eager vs ONNX Runtime, fp32 vs bf16 vs int8",
        "",
        f"- command: `{meta['command']}` (from the repo root); date {meta['date']}; runtime {meta['runtime_s']:.0f} s",
        f"- torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, transformers {meta['transformers']}, Python "
        f"{meta['python']}; CPU {meta['cpu']}, {meta['cpu_count']} cores, torch threads {meta['torch_threads']}",
        f"- items of the embedded catalog (160 px images): {meta['items_batch1']} timed one by one (batch 1), "
        f"{meta['batches_of_64']} batches of 64. A timed item goes through the processor and the model, as in the "
        "`price-regression` pipeline; 'model' columns time the model alone. Latencies are per item at batch 1.",
        "",
    ]
    for name, result in results.items():
        sizes = ", ".join(f"{v} {b / 1e6:.1f} MB" for v, b in result["onnx_bytes"].items())
        lines += [
            f"## {result['model']} ({result['parameters']:,} parameters; CPU preset; ONNX files: {sizes})",
            "",
            "| variant | batch 1 items/s | p50 latency (ms) | p95 latency (ms) | model p50 (ms) | preprocessing p50 (ms) | "
            "batch 1 model-only items/s | batch 64 items/s | batch 64 model-only items/s | other processes' CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in result["rows"]:
            lines.append(
                f"| {row['variant']} | {row['batch1_items_per_s']:.1f} | {row['batch1_p50_ms']:.2f} | "
                f"{row['batch1_p95_ms']:.2f} | {row['batch1_model_p50_ms']:.2f} | {row['batch1_preprocess_p50_ms']:.2f} | "
                f"{row['batch1_model_items_per_s']:.1f} | {row['batch64_items_per_s']:.1f} | "
                f"{row['batch64_model_items_per_s']:.1f} | {100 * row['foreign_cpu_share_batch1']:.0f}% / "
                f"{100 * row['foreign_cpu_share_batch64']:.0f}% |"
            )
        by_variant = {row["variant"]: row for row in result["rows"]}
        base, int8 = by_variant["eager fp32"], by_variant["ONNX int8"]
        ratio = int8["batch1_items_per_s"] / base["batch1_items_per_s"]
        model_ratio = int8["batch1_model_items_per_s"] / base["batch1_model_items_per_s"]
        share = int8["batch1_preprocess_p50_ms"] / int8["batch1_p50_ms"]
        lines += [
            "",
            f"Target: ONNX int8 >= {target:g}x eager fp32 items/s at batch 1: **{ratio:.2f}x** "
            f"({'MET' if ratio >= target else 'NOT met'}); the model alone {model_ratio:.2f}x. With ONNX int8, "
            f"preprocessing is {100 * share:.0f}% of an item's p50 latency.",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
