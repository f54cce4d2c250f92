"""Resformer F1 on held-out rendered labels, with and without unit-constrained decoding.

    python benchmarks/resformer_labels.py --model outputs/resformer-labels

`--model` is a folder written by `recipes/train_resformer.py` (model + processor). The rows are the
"test" split of `hf_pricer.data.label_images` (its (value, unit) pairs never occur in a training split)
rendered with `--seed`, a different seed from training's, so the images are new too. Each variant
generates for every row; F1, precision, recall and exact match are the challenge's (`entity_f1`), the
sanity-pass rate is the share of predictions that `check_prediction` accepts for the row's entity.
Writes benchmarks/results/resformer_labels.{json,md} (or `--name`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from residual_throughput import _cpu_name, cpu_sample, foreign_cpu_share  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.data.entities import check_prediction  # noqa: E402
from hf_pricer.data.label_images import generate_label_images  # noqa: E402
from hf_pricer.metrics import entity_f1  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO_ROOT, "benchmarks", "results")
VARIANTS = {
    "greedy, constrained": {"constrained_decoding": True},
    "greedy, unconstrained": {"constrained_decoding": False},
    "beam 4, constrained": {"constrained_decoding": True, "num_beams": 4},
}


def predict(model, processor, rows, batch_size=64, **generate_kwargs) -> tuple[list[str], float]:
    """Prediction strings for `rows` (dicts with `image`, `entity_name`) and the seconds spent generating."""
    predictions, seconds = [], 0.0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        inputs = processor([row["image"] for row in batch], entity_names=[row["entity_name"] for row in batch])
        began = time.perf_counter()
        with torch.inference_mode():
            generated = model.generate(**inputs, **generate_kwargs)
        seconds += time.perf_counter() - began
        predictions += processor.decode_predictions(generated)
    return predictions, seconds


def score(predictions, rows) -> dict:
    """The challenge's F1 and friends, the sanity-pass rate, and the share of invalid units."""
    metrics = entity_f1(predictions, [row["entity_value"] for row in rows])
    problems = [check_prediction(p, row["entity_name"]) for p, row in zip(predictions, rows, strict=True)]
    metrics["sanity_pass_rate"] = sum(problem is None for problem in problems) / len(rows)
    metrics["unit_not_allowed"] = sum(bool(problem) and "not allowed" in problem for problem in problems)
    return metrics


def run_meta(argv, run_sample, **extra) -> dict:
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else __file__
    return {
        "command": " ".join(["python", script] + (sys.argv[1:] if argv is None else list(argv))),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "foreign_cpu_share": foreign_cpu_share(run_sample, cpu_sample()),
        **extra,
    }


def training_summary(model_dir: str) -> dict:
    """Steps, epochs and runtime of the run that wrote `model_dir` (from its trainer_state / all_results)."""
    summary = {}
    for name in ("all_results.json", "trainer_state.json"):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            with open(path) as handle:
                data = json.load(handle)
            for key in ("train_runtime", "epoch", "global_step", "train_loss"):
                if key in data:
                    summary[key] = data[key]
    return summary


def write(name: str, meta: dict, results: dict, markdown: str) -> None:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, f"{name}.json"), "w") as handle:
        json.dump({"meta": meta, "results": results}, handle, indent=2, default=str)
    with open(os.path.join(RESULTS_DIR, f"{name}.md"), "w") as handle:
        handle.write(markdown)
    print(markdown)


def header(title: str, meta: dict) -> str:
    return (
        f"# {title}\n\nCommand: `{meta['command']}`  \nDate: {meta['date']}; Python {meta['python']}, torch "
        f"{meta['torch']}, transformers {meta['transformers']}; {meta['cpu']} ({meta['cpu_count']} CPUs, torch "
        f"threads {meta['torch_threads']}). Other processes used {100 * meta['foreign_cpu_share']:.0f}% of the "
        "CPUs during the run.\n\n"
    )


def table(results: dict) -> str:
    lines = ["| decoding | F1 | precision | recall | exact match | sanity pass | invalid units |", "|---|---|---|---|---|---|---|"]
    for variant, m in results.items():
        lines.append(
            f"| {variant} | {m['f1']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | {m['exact_match']:.3f} | "
            f"{m['sanity_pass_rate']:.3f} | {m['unit_not_allowed']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(REPO_ROOT, "outputs", "resformer-labels"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7, help="rendering seed of the held-out rows")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--name", default="resformer_labels")
    args = parser.parse_args(argv)
    run_sample = cpu_sample()

    model = hf_pricer.ResformerForConditionalGeneration.from_pretrained(args.model).eval()
    processor = hf_pricer.ResformerProcessor.from_pretrained(args.model)
    rows = list(generate_label_images(args.n, seed=args.seed, image_size=model.config.image_size, split="test"))
    results = {}
    for variant, kwargs in VARIANTS.items():
        predictions, seconds = predict(model, processor, rows, args.batch_size, **kwargs)
        results[variant] = {**score(predictions, rows), "generate_seconds": seconds,
                            "examples": [(row["entity_value"], p) for row, p in zip(rows[:8], predictions[:8])]}
        print(variant, {k: v for k, v in results[variant].items() if k != "examples"}, flush=True)

    meta = run_meta(argv, run_sample, model=os.path.relpath(os.path.abspath(args.model), REPO_ROOT),
                    parameters=model.num_parameters(), rows=len(rows), seed=args.seed,
                    empty_rows=sum(not row["entity_value"] for row in rows), training=training_summary(args.model))
    errors = [(row["printed"], row["entity_value"], p) for row, p in
              zip(rows, predict(model, processor, rows[:200], args.batch_size)[0]) if p != row["entity_value"]][:10]
    markdown = header("Resformer on held-out rendered labels", meta) + (
        f"Model: `{meta['model']}` ({meta['parameters']:,} parameters; training: {meta['training']}). "
        f"Rows: {meta['rows']} of the `test` split of `hf_pricer.data.label_images` rendered with seed {args.seed} "
        f"({meta['empty_rows']} show no value); none of their (value, unit) pairs occurs in training.\n\n"
        + table(results)
        + "\nFirst greedy-constrained errors among the first 200 rows (printed label → truth → prediction):\n\n"
        + "".join(f"- `{printed}` → `{truth}` → `{pred}`\n" for printed, truth, pred in errors)
    )
    write(args.name, meta, results, markdown)
    return results


if __name__ == "__main__":
    main()
