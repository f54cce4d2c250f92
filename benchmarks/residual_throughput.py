"""Training throughput of the residual price regressor: seed 002's plain loop vs hf_pricer's PricerTrainer.

    python benchmarks/residual_throughput.py                 # full run (seed size, ~10-15 min on 2 cores)
    python benchmarks/residual_throughput.py --quick         # smoke run (hidden 512, a few steps)
    python benchmarks/residual_throughput.py --variants seed_loop trainer_bf16_sparse_fused

Everything runs in ONE process on the same data (hashed features of the real texts of
`../shared/data/items/appliances_2000.jsonl`, train split; the embedded synthetic catalog when that file
is absent) and the same architecture. For each variant the wall time from the end of optimizer step
`--warmup` to the end of step `--steps` is measured (so warm-up steps, model construction, optimizer state
allocation and Trainer setup are excluded; data loading/hashing between steps is included), and turned into
samples/s. Also measured: fp32 and bf16 peak matmul GFLOP/s (4096x4096 @ 4096x4096) with the same thread
count, and the achieved model GFLOP/s of each variant as a fraction of the matching peak.

Results: benchmarks/results/residual_throughput.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from torch import nn, optim
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader, TensorDataset

import hf_pricer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "items", "appliances_2000.jsonl")
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")


# --------------------------------------------------------------------------------------------------
# (a) Seed 002's model and plain training loop, re-implemented as written in the seed
# --------------------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    def __init__(self, hidden_size, dropout_prob):
        super(ResidualBlock, self).__init__()
        self.block = nn.Sequential(
            nn.Linear(hidden_size, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout_prob),
            nn.Linear(hidden_size, hidden_size),
            nn.LayerNorm(hidden_size),
        )
        self.relu = nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.block(x)
        out += residual
        return self.relu(out)


class DeepNeuralNetwork(nn.Module):
    def __init__(self, input_size, num_layers=10, hidden_size=4096, dropout_prob=0.2):
        super(DeepNeuralNetwork, self).__init__()
        self.input_layer = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.LayerNorm(hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout_prob),
        )
        self.residual_blocks = nn.ModuleList()
        for i in range(num_layers - 2):
            self.residual_blocks.append(ResidualBlock(hidden_size, dropout_prob))
        self.output_layer = nn.Linear(hidden_size, 1)

    def forward(self, x):
        x = self.input_layer(x)
        for block in self.residual_blocks:
            x = block(x)
        return self.output_layer(x)


def run_seed_loop(X_train, y_train_norm, args, batch_size=64):
    """Seed 002's `DeepNeuralNetworkRunner.setup()` + `train()` inner loop, timed per optimizer step."""
    np.random.seed(42)
    torch.manual_seed(42)
    model = DeepNeuralNetwork(X_train.shape[1], num_layers=args.num_layers, hidden_size=args.hidden_size)
    device = torch.device("cpu")
    model.to(device)
    loss_function = nn.L1Loss()
    optimizer = optim.AdamW(model.parameters(), lr=0.001, weight_decay=0.01)
    scheduler = CosineAnnealingLR(optimizer, T_max=10, eta_min=0)
    train_loader = DataLoader(TensorDataset(X_train, y_train_norm), batch_size=batch_size, shuffle=True)

    step_ends = []
    train_losses = []
    step = 0
    model.train()
    while step < args.steps:
        for batch_X, batch_y in train_loader:
            batch_X = batch_X.to(device)
            batch_y = batch_y.to(device)
            optimizer.zero_grad()
            outputs = model(batch_X)
            loss = loss_function(outputs, batch_y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            train_losses.append(loss.item())
            step += 1
            step_ends.append(time.perf_counter())
            if step >= args.steps:
                break
        else:
            scheduler.step()  # the seed steps the scheduler once per epoch
    del model, optimizer, scheduler, train_loader
    return step_ends, train_losses


# --------------------------------------------------------------------------------------------------
# (b) hf_pricer: ResidualRegressorForPrice through PricerTrainer
# --------------------------------------------------------------------------------------------------
class StepTimer(transformers.TrainerCallback):
    """Wall-clock time at the end of every optimizer step (after step, scheduler and zero_grad)."""

    def __init__(self):
        self.step_ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())


def run_trainer(train_items, stats, variant, args, output_dir):
    mean, std = stats
    torch.manual_seed(42)
    config = hf_pricer.ResidualRegressorConfig(
        num_features=args.num_features,
        num_layers=args.num_layers,
        hidden_size=args.hidden_size,
        dropout=0.2,
        loss_type="l1",
        log_price_mean=mean,
        log_price_std=std,
    )
    model = hf_pricer.ResidualRegressorForPrice(config)
    processor = hf_pricer.ResidualRegressorProcessor(n_features=args.num_features)
    training_args = hf_pricer.PricerTrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=variant["batch"],
        learning_rate=1e-3,
        weight_decay=0.01,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        optim=variant["optim"],
        bf16=variant["bf16"],
        torch_compile=variant.get("compile", False),
        use_cpu=True,
        report_to="none",
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=42,
        dataloader_num_workers=0,
    )
    timer = StepTimer()
    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        data_collator=hf_pricer.ResidualRegressorCollator(processor, sparse=variant["sparse"]),
        callbacks=[timer],
    )
    start = time.perf_counter()
    output = trainer.train()
    total = time.perf_counter() - start
    optimizer_name = type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer).__name__
    defaults = getattr(getattr(trainer.optimizer, "optimizer", trainer.optimizer), "defaults", {})
    info = {
        "train_runtime_s": output.metrics.get("train_runtime"),
        "train_wall_s": total,
        "optimizer": optimizer_name,
        "optimizer_fused": defaults.get("fused"),
        "optimizer_foreach": defaults.get("foreach"),
        "final_train_loss": output.training_loss,
    }
    del trainer, model
    return timer.step_ends, info


# --------------------------------------------------------------------------------------------------
# Peaks and FLOPs
# --------------------------------------------------------------------------------------------------
def matmul_peak(dtype, n=4096, reps=5):
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    flops = 2 * n**3
    return {"best_gflops": flops / min(times) / 1e9, "median_gflops": flops / statistics.median(times) / 1e9, "reps": reps}


def step_flops(batch, num_features, hidden, num_layers, input_width):
    """Brief's convention: 6 x batch x (input_width*H + 2(L-2)H^2 + H) FLOPs per training step.

    `input_width` is `num_features` for the dense input layer and the mean number of non-zero features
    per item for the sparse (embedding_bag) input layer.
    """
    return 6 * batch * (input_width * hidden + 2 * (num_layers - 2) * hidden**2 + hidden)


# --------------------------------------------------------------------------------------------------
VARIANTS = [
    # name, label, batch, bf16, sparse, optim, compile
    dict(name="seed_loop", label="seed 002 plain loop (fp32 dense, torch AdamW defaults)", batch=64, bf16=False, sparse=False, optim="torch-default"),
    dict(name="trainer_fp32_dense", label="PricerTrainer fp32 dense, adamw_torch (same optimizer as seed)", batch=64, bf16=False, sparse=False, optim="adamw_torch"),
    dict(name="trainer_fp32_dense_fused", label="PricerTrainer fp32 dense, adamw_torch_fused (transformers default)", batch=64, bf16=False, sparse=False, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_dense", label="PricerTrainer bf16 autocast dense, adamw_torch", batch=64, bf16=True, sparse=False, optim="adamw_torch"),
    dict(name="trainer_bf16_sparse", label="PricerTrainer bf16 autocast sparse input, adamw_torch", batch=64, bf16=True, sparse=True, optim="adamw_torch"),
    dict(name="trainer_bf16_dense_fused", label="PricerTrainer bf16 autocast dense, adamw_torch_fused", batch=64, bf16=True, sparse=False, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_sparse_fused", label="PricerTrainer bf16 autocast sparse input, adamw_torch_fused", batch=64, bf16=True, sparse=True, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_sparse_fused_compile", label="PricerTrainer bf16 sparse fused + torch_compile=True", batch=64, bf16=True, sparse=True, optim="adamw_torch_fused", compile=True),
    dict(name="trainer_bf16_sparse_fused_b256", label="PricerTrainer bf16 sparse fused, batch 256 (CHANGES training dynamics)", batch=256, bf16=True, sparse=True, optim="adamw_torch_fused"),
    dict(name="trainer_fp32_dense_fused_b256", label="PricerTrainer fp32 dense fused, batch 256 (CHANGES training dynamics)", batch=256, bf16=False, sparse=False, optim="adamw_torch_fused"),
]


def load_texts_and_prices(data_path):
    if os.path.isfile(data_path):
        items = hf_pricer.load_items(data_path, test_size=0.2, seed=42)["train"]
        source = os.path.relpath(os.path.abspath(data_path), REPO_ROOT)
    else:
        items = hf_pricer.load_items("catalog")["train"]
        source = "hf_pricer.load_items('catalog') (synthetic; real data not found)"
    return items, source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="items file (falls back to the synthetic catalog)")
    parser.add_argument("--steps", type=int, default=14, help="optimizer steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="steps excluded from timing (timing starts at the end of this step)")
    parser.add_argument("--hidden-size", type=int, default=4096)
    parser.add_argument("--num-layers", type=int, default=10)
    parser.add_argument("--num-features", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--variants", nargs="*", default=None, help=f"subset of {[v['name'] for v in VARIANTS]}")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--quick", action="store_true", help="smoke run: hidden 512, 5 steps, results to *_quick.*")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden_size, args.steps, args.warmup = 512, 5, 2
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    command = "python " + " ".join([os.path.relpath(sys.argv[0], REPO_ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]] + sys.argv[1:])
    run_start = time.perf_counter()
    transformers.utils.logging.set_verbosity_error()

    variants = [v for v in VARIANTS if args.variants is None or v["name"] in args.variants]
    if args.no_compile:
        variants = [v for v in variants if not v.get("compile")]

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {threads}", flush=True)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"peak fp32 {peaks['fp32']['best_gflops']:.0f} GFLOP/s, bf16 {peaks['bf16']['best_gflops']:.0f} GFLOP/s", flush=True)

    items, source = load_texts_and_prices(args.data)
    processor = hf_pricer.ResidualRegressorProcessor(n_features=args.num_features)
    texts = [processor.item_text(item) for item in items]
    X_train = processor(texts, sparse=False)["input_features"].float()
    nnz_mean = float((X_train != 0).sum(dim=1).float().mean())
    prices = torch.tensor(items["price"], dtype=torch.float32).unsqueeze(1)
    y_train_log = torch.log(prices + 1)
    y_mean, y_std = y_train_log.mean(), y_train_log.std()
    y_train_norm = (y_train_log - y_mean) / y_std
    stats = hf_pricer.log_price_statistics(items)
    n_params = sum(p.numel() for p in hf_pricer.ResidualRegressorForPrice(
        hf_pricer.ResidualRegressorConfig(num_features=args.num_features, num_layers=args.num_layers, hidden_size=args.hidden_size)
    ).parameters())
    gc.collect()
    print(f"data: {source}, {len(items)} items, mean non-zero features {nnz_mean:.1f}; model {n_params:,} params", flush=True)

    results = []
    seed_rate = None
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            t0 = time.perf_counter()
            error = None
            info = {}
            try:
                if variant["name"] == "seed_loop":
                    step_ends, losses = run_seed_loop(X_train, y_train_norm, args, batch_size=variant["batch"])
                    info = {"optimizer": "AdamW", "optimizer_fused": None, "optimizer_foreach": None, "final_train_loss": losses[-1]}
                else:
                    step_ends, info = run_trainer(items, stats, variant, args, os.path.join(tmp, variant["name"]))
            except Exception as exc:  # a variant that cannot run here (e.g. torch.compile without a compiler)
                error = f"{type(exc).__name__}: {exc}"
                step_ends = []
            gc.collect()
            wall = time.perf_counter() - t0
            row = dict(variant)
            row.update(info)
            row["variant_wall_s"] = wall
            row["threads_after"] = torch.get_num_threads()
            if error or len(step_ends) < args.steps:
                row["error"] = error or f"only {len(step_ends)} steps recorded"
                print(f"{variant['name']}: FAILED {row['error'][:300]}", flush=True)
                results.append(row)
                continue
            timed = np.diff(step_ends[args.warmup - 1 :]) if args.warmup > 0 else np.diff(step_ends)
            window = step_ends[-1] - step_ends[args.warmup - 1]
            timed_steps = args.steps - args.warmup
            rate = variant["batch"] * timed_steps / window
            width = nnz_mean if variant["sparse"] else args.num_features
            flops = step_flops(variant["batch"], args.num_features, args.hidden_size, args.num_layers, width)
            gflops = flops * timed_steps / window / 1e9
            peak = peaks["bf16" if variant["bf16"] else "fp32"]["best_gflops"]
            if variant["name"] == "seed_loop":
                seed_rate = rate
            row.update(
                timed_steps=timed_steps,
                timed_window_s=window,
                step_time_median_s=float(np.median(timed)),
                step_time_min_s=float(np.min(timed)),
                step_time_max_s=float(np.max(timed)),
                samples_per_s=rate,
                flops_per_step=flops,
                achieved_gflops=gflops,
                peak_used="bf16" if variant["bf16"] else "fp32",
                pct_of_peak=100 * gflops / peak,
            )
            results.append(row)
            print(
                f"{variant['name']}: {rate:.1f} samples/s (median step {np.median(timed):.2f} s), {gflops:.0f} GFLOP/s "
                f"= {100 * gflops / peak:.0f}% of {row['peak_used']} peak; variant wall {wall:.0f} s",
                flush=True,
            )
    for row in results:
        if seed_rate and "samples_per_s" in row:
            row["ratio_vs_seed"] = row["samples_per_s"] / seed_rate

    total_runtime = time.perf_counter() - run_start
    meta = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "hf_pricer": getattr(hf_pricer, "__version__", "?"),
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "data": source,
        "num_items": len(items),
        "mean_nonzero_features": nnz_mean,
        "num_features": args.num_features,
        "num_layers": args.num_layers,
        "hidden_size": args.hidden_size,
        "num_parameters": n_params,
        "steps": args.steps,
        "warmup": args.warmup,
        "peaks": peaks,
        "total_runtime_s": total_runtime,
    }
    os.makedirs(args.out, exist_ok=True)
    stem = "residual_throughput_quick" if args.quick else "residual_throughput"
    with open(os.path.join(args.out, stem + ".json"), "w") as handle:
        json.dump({"meta": meta, "results": results}, handle, indent=2, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as handle:
        handle.write(render_markdown(meta, results))
    print(f"wrote {os.path.join(args.out, stem)}.{{md,json}} in {total_runtime:.0f} s", flush=True)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    flags = open("/proc/cpuinfo").read()
                    extra = " (avx512_bf16)" if "avx512_bf16" in flags else ""
                    return line.split(":", 1)[1].strip() + extra
    except OSError:
        pass
    return platform.processor()


def render_markdown(meta, results):
    m = meta
    lines = [
        "# Residual regressor: training throughput",
        "",
        f"- command: `{m['command']}` (from the repo root)",
        f"- date: {m['date']}; total runtime {m['total_runtime_s']:.0f} s",
        f"- torch {m['torch']}, transformers {m['transformers']}, hf_pricer {m['hf_pricer']}, Python {m['python']}",
        f"- CPU: {m['cpu']}, {m['cpu_count']} cores; torch threads: {m['torch_threads']}",
        f"- data: `{m['data']}`, {m['num_items']} training items hashed to {m['num_features']} features "
        f"(mean {m['mean_nonzero_features']:.1f} non-zero per item)",
        f"- model: num_layers={m['num_layers']}, hidden_size={m['hidden_size']} ({m['num_parameters']:,} parameters), dropout 0.2",
        f"- timing: {m['steps']} optimizer steps per variant, steps 1..{m['warmup']} are warm-up; samples/s = batch x "
        f"{m['steps'] - m['warmup']} / wall time from the end of step {m['warmup']} to the end of step {m['steps']} "
        "(includes per-step data loading/hashing, excludes setup)",
        f"- peak matmul (4096x4096 @ 4096x4096, best of {m['peaks']['fp32']['reps']}): fp32 {m['peaks']['fp32']['best_gflops']:.0f} GFLOP/s, "
        f"bf16 {m['peaks']['bf16']['best_gflops']:.0f} GFLOP/s (ratio {m['peaks']['bf16']['best_gflops'] / m['peaks']['fp32']['best_gflops']:.2f})",
        "",
        "| variant | batch | samples/s | vs seed loop | median step (s) | achieved GFLOP/s | % of peak |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        if "error" in row:
            lines.append(f"| {row['label']} | {row['batch']} | failed: {row['error'][:120]} | | | | |")
            continue
        ratio = f"{row['ratio_vs_seed']:.2f}x" if "ratio_vs_seed" in row else "n/a"
        lines.append(
            f"| {row['label']} | {row['batch']} | {row['samples_per_s']:.1f} | {ratio} | {row['step_time_median_s']:.2f} | "
            f"{row['achieved_gflops']:.0f} | {row['pct_of_peak']:.0f}% ({row['peak_used']}) |"
        )
    lines += [
        "",
        "FLOPs per step follow 6 x batch x (input_width x hidden + 2 x (num_layers - 2) x hidden^2 + hidden), with "
        "input_width = num_features for dense input and the mean non-zero feature count for sparse input "
        "(embedding_bag touches only those rows). The dense input layer really executes 4 x batch x num_features x "
        "hidden (its input needs no gradient), so the dense rows overcount by 2 x batch x num_features x hidden "
        "(about 2% at the seed size). bf16 rows are compared with the bf16 peak, fp32 rows with the fp32 peak; "
        "LayerNorm, the optimizer step, gradient clipping and data loading run in fp32 in every variant and count "
        "no FLOPs here.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
