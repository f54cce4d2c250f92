"""Training at `ed-donner/items_full` scale, offline: items/s and peak memory when streaming 20k, 100k and 400k rows
through `load_items(..., streaming=True)` → collator → `PricerTrainer`, and the same with map-style loading.

    python benchmarks/items_scale.py              # ~10 min on 2 cores: writes 400,000 rows, then 8 training runs
    python benchmarks/items_scale.py --quick      # 2k/5k/10k rows, few steps; results to items_scale_quick.*

The data set is written by `hf_pricer.data.items_full.write_items_full` (the Hub data set's columns; Parquet and JSON
Lines shards of 20,000 rows) into `--data-dir` (a temporary folder by default); the 20k and 100k data sets are the
first 1 and 5 Parquet shards of the 400k one. Each run is a fresh process (its peak resident memory is its own):
the residual regressor at its CPU preset size (`recipes/configs/residual_cpu.yaml`, batch 64) trains for `--steps`
steps, fewer items than the smallest data set holds, so every run does the same work; items/s is timed from the
end of the warm-up steps to the last step. Map-style runs also time `load_items` (Arrow conversion and row checks,
with an empty `datasets` cache). Targets: streaming peak RSS at 400k within 1.2x of 20k, items/s within 10 %.

Results: benchmarks/results/items_scale.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROWS_PER_SHARD = 20_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_training(mode: str, source: str, steps: int, warmup: int) -> dict:
    """One run, in this process: load, train `steps` steps, report."""
    import transformers

    import hf_pricer
    import train_residual
    from hf_pricer.cli import parse_recipe_args
    from residual_throughput import cpu_sample, foreign_cpu_share

    transformers.utils.logging.set_verbosity_error()
    start = time.perf_counter()
    items = hf_pricer.load_items(source, streaming=mode == "streaming")["train"]
    load_s = time.perf_counter() - start
    rss_after_load = peak_rss_mb()
    with tempfile.TemporaryDirectory() as output_dir:
        model_args, _, data_args, training_args = parse_recipe_args(train_residual.ARGUMENT_TYPES, args=[
            os.path.join(REPO_ROOT, "recipes", "configs", "residual_cpu.yaml"), "--output_dir", output_dir,
            "--max_steps", str(steps), "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--logging_strategy", "no", "--disable_tqdm", "true"])
        config = hf_pricer.ResidualRegressorConfig(**model_args.config_kwargs(), log_price_mean=3.5, log_price_std=1.0)
        processor = hf_pricer.ResidualRegressorProcessor(n_features=config.num_features, text_fields=data_args.text_fields)
        marks = []

        class StepTimes(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                marks.append(cpu_sample())

        trainer = hf_pricer.PricerTrainer(
            model=hf_pricer.ResidualRegressorForPriceRegression(config), args=training_args, train_dataset=items,
            data_collator=hf_pricer.ResidualRegressorCollator(processor), callbacks=[StepTimes()])
        trainer.train()
    timed = marks[warmup - 1:]
    elapsed = timed[-1][0] - timed[0][0]
    return {
        "mode": mode,
        "load_s": load_s,
        "items_per_s": training_args.per_device_train_batch_size * (len(timed) - 1) / elapsed,
        "steps": len(marks),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_after_load_mb": rss_after_load,
        "foreign_cpu_share": foreign_cpu_share(timed[0], timed[-1]),
    }


def size_folder(data_dir: str, rows: int, total: int) -> str:
    """A data set folder holding the first `rows` rows: links to the first Parquet shards of the full one."""
    if rows == total:
        return os.path.join(data_dir, "parquet")
    folder = os.path.join(data_dir, "sizes", str(rows), "data")
    os.makedirs(folder, exist_ok=True)
    shards = sorted(os.listdir(os.path.join(data_dir, "parquet", "data")))[: rows // ROWS_PER_SHARD]
    for shard in shards:
        link = os.path.join(folder, shard)
        if not os.path.lexists(link):
            os.symlink(os.path.join(data_dir, "parquet", "data", shard), link)
    return os.path.dirname(folder)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="where the data set goes (default: a temporary folder)")
    parser.add_argument("--steps", type=int, default=150, help="training steps per run (batch 64)")
    parser.add_argument("--warmup", type=int, default=10, help="steps before the timed window")
    parser.add_argument("--quick", action="store_true", help="2k/5k/10k rows, 30 steps; results to items_scale_quick.*")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--run", nargs=2, metavar=("MODE", "SOURCE"), help=argparse.SUPPRESS)  # one run, in a child
    args = parser.parse_args(argv)
    if args.run:
        print(json.dumps(run_training(args.run[0], args.run[1], args.steps, args.warmup)))
        return
    global ROWS_PER_SHARD
    sizes = (20_000, 100_000, 400_000)
    if args.quick:
        sizes, args.steps, args.warmup, ROWS_PER_SHARD = (2_000, 5_000, 10_000), 30, 5, 1_000
    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT), *sys.argv[1:]])
    started = time.perf_counter()
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="items_full_")
    from hf_pricer.data.items_full import write_items_full

    generate_start = time.perf_counter()
    if not os.path.isdir(os.path.join(data_dir, "parquet")):
        write_items_full(data_dir, num_rows=sizes[-1], rows_per_shard=ROWS_PER_SHARD)
    generate_s = time.perf_counter() - generate_start
    print(f"data set: {sizes[-1]:,} rows in {data_dir} ({generate_s:.0f} s)", flush=True)

    runs = []
    plan = [("streaming", rows, size_folder(data_dir, rows, sizes[-1])) for rows in sizes]
    plan.append(("streaming (JSON Lines)", sizes[-1], os.path.join(data_dir, "jsonl")))
    plan += [("map-style", rows, size_folder(data_dir, rows, sizes[-1])) for rows in sizes]
    for mode, rows, source in plan:
        with tempfile.TemporaryDirectory() as cache:  # map-style runs convert to Arrow from scratch
            env = {**os.environ, "HF_DATASETS_CACHE": cache, "PYTHONPATH": REPO_ROOT}
            result = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--run", mode.split(" ")[0], source, "--steps",
                 str(args.steps), "--warmup", str(args.warmup)],
                capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"{mode} {rows} failed:\n{result.stderr[-3000:]}")
        row = {**json.loads(result.stdout.strip().splitlines()[-1]), "mode": mode, "rows": rows}
        runs.append(row)
        print(f"{mode} {rows:,} rows: load {row['load_s']:.1f} s, {row['items_per_s']:.0f} items/s, peak RSS "
              f"{row['peak_rss_mb']:.0f} MB (other processes {100 * row['foreign_cpu_share']:.0f}% CPU)", flush=True)
    if not args.data_dir:
        shutil.rmtree(data_dir)
    meta = {"command": command, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(), "cpu_count": os.cpu_count(), "steps": args.steps,
            "warmup": args.warmup, "generate_s": generate_s, "rows_per_shard": ROWS_PER_SHARD,
            "runtime_s": time.perf_counter() - started}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "items_scale_quick" if args.quick else "items_scale")
    with open(stem + ".json", "w") as handle:
        json.dump({"meta": meta, "runs": runs}, handle, indent=2)
    with open(stem + ".md", "w") as handle:
        handle.write(render(meta, runs))
    print(f"wrote {stem}.{{md,json}} in {meta['runtime_s']:.0f} s")


def render(meta, runs):
    lines = [
        "# Training at items_full scale: streaming vs map-style loading",
        "",
        f"- command: `{meta['command']}` (from the repo root); date {meta['date']}; runtime {meta['runtime_s']:.0f} s; "
        f"{meta['cpu_count']} cores",
        f"- data: `hf_pricer.data.items_full.write_items_full` (the Hub data set's columns), written in "
        f"{meta['generate_s']:.0f} s as Parquet and JSON Lines shards of {meta['rows_per_shard']:,} rows; smaller "
        "data sets are the first Parquet shards",
        f"- each run a fresh process: residual regressor, CPU preset size, batch 64, {meta['steps']} steps (items/s "
        f"timed after {meta['warmup']} warm-up steps); load time = `load_items` (map-style: Arrow conversion and row "
        "checks, empty `datasets` cache; streaming: opening the shards). Peak RSS is the process's high-water mark.",
        "",
        "| loading | rows | load time (s) | training items/s | peak RSS (MB) | RSS after loading (MB) | other processes' CPU |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(f"| {run['mode']} | {run['rows']:,} | {run['load_s']:.1f} | {run['items_per_s']:.0f} | "
                     f"{run['peak_rss_mb']:.0f} | {run['peak_rss_after_load_mb']:.0f} | "
                     f"{100 * run['foreign_cpu_share']:.0f}% |")
    streaming = [run for run in runs if run["mode"] == "streaming"]
    if len(streaming) >= 2:
        small, large = streaming[0], streaming[-1]
        rss = large["peak_rss_mb"] / small["peak_rss_mb"]
        speed = large["items_per_s"] / small["items_per_s"]
        lines += [
            "",
            f"Streaming, {small['rows']:,} → {large['rows']:,} rows: peak RSS {rss:.2f}x (target <= 1.2x: "
            f"{'MET' if rss <= 1.2 else 'NOT met'}), items/s {speed:.2f}x (target within 10 %: "
            f"{'MET' if abs(speed - 1) <= 0.1 else 'NOT met'}).",
        ]
    mapped = [run for run in runs if run["mode"] == "map-style"]
    if len(mapped) >= 2:
        lines.append(f"Map-style, {mapped[0]['rows']:,} → {mapped[-1]['rows']:,} rows: load time "
                     f"{mapped[0]['load_s']:.1f} → {mapped[-1]['load_s']:.1f} s, peak RSS "
                     f"{mapped[0]['peak_rss_mb']:.0f} → {mapped[-1]['peak_rss_mb']:.0f} MB.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
