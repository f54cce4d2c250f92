"""Resformer generation throughput (images/s): greedy vs beam search 4, constrained decoding on.

    python benchmarks/resformer_throughput.py --model outputs/resformer-labels

Times `model.generate` alone (images already preprocessed) on batches of rendered labels, `--repeats`
times per setting after one warm-up batch, and records the share of the CPUs that other processes used
during each measurement: on a busy machine the numbers are contended and the results file says so.
Writes benchmarks/results/resformer_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from residual_throughput import cpu_sample, foreign_cpu_share  # noqa: E402
from resformer_labels import REPO_ROOT, header, run_meta, write  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.data.label_images import generate_label_images  # noqa: E402

SETTINGS = {"greedy": {}, "beam 4": {"num_beams": 4}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(REPO_ROOT, "outputs", "resformer-labels"))
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--name", default="resformer_throughput")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run_sample = cpu_sample()
    model = hf_pricer.ResformerForConditionalGeneration.from_pretrained(args.model).eval()
    processor = hf_pricer.ResformerProcessor.from_pretrained(args.model)
    rows = generate_label_images(args.batch_size, seed=11, image_size=model.config.image_size, split="test")
    inputs = processor(list(rows["image"]), entity_names=rows["entity_name"])

    results = {}
    for setting, kwargs in SETTINGS.items():
        with torch.inference_mode():
            model.generate(**inputs, **kwargs)  # warm-up
            rates, shares = [], []
            for _ in range(args.repeats):
                first, began = cpu_sample(), time.perf_counter()
                generated = model.generate(**inputs, **kwargs)
                rates.append(args.batch_size / (time.perf_counter() - began))
                shares.append(foreign_cpu_share(first, cpu_sample()))
        results[setting] = {
            "images_per_second_median": statistics.median(rates),
            "images_per_second": rates,
            "foreign_cpu_share": shares,
            "output_tokens": int(generated.shape[1]),
        }
        print(setting, results[setting], flush=True)

    meta = run_meta(argv, run_sample, model=os.path.relpath(os.path.abspath(args.model), REPO_ROOT),
                    parameters=model.num_parameters(), batch_size=args.batch_size)
    busiest = max(share for r in results.values() for share in r["foreign_cpu_share"])
    contended = busiest > 0.10
    lines = ["| decoding | images/s (median) | runs | other processes' CPU share | longest output (tokens) |",
             "|---|---|---|---|---|"]
    for setting, r in results.items():
        lines.append(
            f"| {setting} | {r['images_per_second_median']:.1f} | "
            f"{', '.join(f'{x:.1f}' for x in r['images_per_second'])} | "
            f"{', '.join(f'{100 * s:.0f}%' for s in r['foreign_cpu_share'])} | {r['output_tokens']} |"
        )
    ratio = results["greedy"]["images_per_second_median"] / results["beam 4"]["images_per_second_median"]
    markdown = header("Resformer generation throughput", meta) + (
        f"Model: `{meta['model']}` ({meta['parameters']:,} parameters, {model.config.image_size} px); batches of "
        f"{args.batch_size} preprocessed images; `model.generate` only, constrained decoding on.\n\n"
        + "\n".join(lines)
        + f"\n\nGreedy is {ratio:.1f}x as fast as beam search 4 here.\n"
        + ("\n**Contended measurement**: other processes used up to "
           f"{100 * busiest:.0f}% of the CPUs while it ran; absolute rates are low, compare the ratio.\n"
           if contended else "")
    )
    write(args.name, meta, results, markdown)
    return results


if __name__ == "__main__":
    main()
