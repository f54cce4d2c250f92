"""Training throughput of the residual price regressor: its design's plain loop vs hf_pricer's PricerTrainer.

    python benchmarks/residual_throughput.py                 # full run (design size, ~10-15 min on 2 cores)
    python benchmarks/residual_throughput.py --quick         # smoke run (hidden 512, a few steps)
    python benchmarks/residual_throughput.py --variants original_loop trainer_bf16_sparse_fused

Everything runs in ONE process on the same data (hashed features of the real texts of
`../shared/data/items/appliances_2000.jsonl`, train split; the embedded synthetic catalog when that file
is absent) and the same architecture. For each variant the wall time from the end of optimizer step
`--warmup` to the end of step `--steps` is measured (so warm-up steps, model construction, optimizer state
allocation and Trainer setup are excluded; data loading/hashing between steps is included), and turned into
samples/s. Also measured: fp32 and bf16 peak matmul GFLOP/s (4096x4096 @ 4096x4096) with the same thread
count, and the achieved model GFLOP/s of each variant as a fraction of the matching peak.

The verdict's headline row is the default recipe path: the arguments `recipes/train_residual.py
recipes/configs/residual_design.yaml` parses (no speed flag given; `PricerTrainingArguments`' CPU defaults decide bf16
and the malloc tuning), measured in the same run as the original plain loop. Rows run in three phases, because
glibc's `mallopt` cannot be undone in a process: default malloc, then the recipe path (whose Trainer tunes malloc
itself), then the rows the benchmark tunes.

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
from hf_pricer.performance import malloc_tuned, tune_malloc

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(REPO_ROOT, "..", "shared", "data", "items", "appliances_2000.jsonl")
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
RECIPE_CONFIG = os.path.join(REPO_ROOT, "recipes", "configs", "residual_design.yaml")


# --------------------------------------------------------------------------------------------------
# CPU contention monitoring and allocator settings
# --------------------------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_sample():
    """(wall time, busy CPU seconds of the whole machine, CPU seconds of this process)."""
    now = time.perf_counter()
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = (sum(fields[:8]) - idle) / CLOCK_TICKS
        times = os.times()
        return now, busy, times.user + times.system
    except (OSError, ValueError, IndexError):
        return now, float("nan"), float("nan")


def foreign_cpu_share(first, last):
    """Share of the machine's CPU time used by OTHER processes between two `cpu_sample()`s (0..1)."""
    wall = last[0] - first[0]
    if wall <= 0:
        return float("nan")
    return max(0.0, ((last[1] - first[1]) - (last[2] - first[2])) / (wall * (os.cpu_count() or 1)))


def wait_for_quiet(threshold=0.10, max_wait=120.0, probe=2.0):
    """Wait (up to `max_wait` s) until other processes use < `threshold` of the CPUs; returns the last share."""
    deadline = time.perf_counter() + max_wait
    probes = 0
    while True:
        first = cpu_sample()
        time.sleep(probe)
        share = foreign_cpu_share(first, cpu_sample())
        if not share > threshold or time.perf_counter() > deadline:
            return share
        if probes % 15 == 0:
            print(f"  machine busy ({100 * share:.0f}% of the CPUs used by other processes), waiting...", flush=True)
        probes += 1


# --------------------------------------------------------------------------------------------------
# (a) The design document's model and plain training loop, re-implemented as written there
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


def run_original_loop(X_train, y_train_norm, args, steps, batch_size=64):
    """The design document's `DeepNeuralNetworkRunner.setup()` + `train()` inner loop, timed per optimizer step."""
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
    while step < steps:
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
            step_ends.append(cpu_sample())
            if step >= steps:
                break
        else:
            scheduler.step()  # the original loop steps the scheduler once per epoch
    del model, optimizer, scheduler, train_loader
    return step_ends, train_losses


# --------------------------------------------------------------------------------------------------
# (b) hf_pricer: ResidualRegressorForPriceRegression through PricerTrainer
# --------------------------------------------------------------------------------------------------
class StepTimer(transformers.TrainerCallback):
    """`cpu_sample()` at the end of every optimizer step (after step, scheduler and zero_grad)."""

    def __init__(self):
        self.step_ends = []

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(cpu_sample())


def variant_training_args(variant, args, steps, output_dir):
    """`(model config kwargs, PricerTrainingArguments, sparse)` of an explicit variant: every speed setting named."""
    model_kwargs = dict(num_features=args.num_features, num_layers=args.num_layers, hidden_size=args.hidden_size,
                        dropout=0.2, loss_type="l1")
    training_args = hf_pricer.PricerTrainingArguments(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=variant["batch"],
        learning_rate=1e-3,
        weight_decay=0.01,
        max_grad_norm=1.0,
        lr_scheduler_type="cosine",
        optim=variant["optim"],
        bf16=variant["bf16"],
        tune_malloc=False,  # the malloc phase is the benchmark's to set
        torch_compile=variant.get("compile", False),
        use_cpu=True,
        report_to="none",
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        seed=42,
        dataloader_num_workers=0,
        dataloader_drop_last=True,  # every timed step carries a full batch (1600 items = 6.25 batches of 256)
    )
    return model_kwargs, training_args, variant["sparse"]


def recipe_training_args(args, steps, output_dir):
    """What `recipes/train_residual.py recipes/configs/residual_design.yaml` runs, parsed by the recipe's own parser:
    only the data, the number of steps and the output (no evaluation, no checkpoints, no logging) are changed."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))
    import train_residual

    from hf_pricer.cli import parse_recipe_args

    model_args, run_args, _, training_args = parse_recipe_args(
        train_residual.ARGUMENT_TYPES,
        args=[RECIPE_CONFIG, "--max_steps", str(steps), "--output_dir", output_dir, "--eval_strategy", "no",
              "--save_strategy", "no", "--load_best_model_at_end", "false", "--logging_strategy", "no",
              "--disable_tqdm", "true"],
    )
    # The design's sizes are the benchmark's defaults; --hidden-size etc. (--quick) resize this row as the others.
    model_kwargs = dict(model_args.config_kwargs(), num_features=args.num_features, num_layers=args.num_layers,
                        hidden_size=args.hidden_size)
    return model_kwargs, training_args, run_args.sparse_input


def run_trainer(train_items, stats, model_kwargs, training_args, sparse):
    mean, std = stats
    torch.manual_seed(42)
    config = hf_pricer.ResidualRegressorConfig(**model_kwargs, log_price_mean=mean, log_price_std=std)
    model = hf_pricer.ResidualRegressorForPriceRegression(config)
    processor = hf_pricer.ResidualRegressorProcessor(n_features=config.num_features)
    timer = StepTimer()
    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        data_collator=hf_pricer.ResidualRegressorCollator(processor, sparse=sparse),
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
        "train_loss_mean": output.training_loss,
        "bf16": training_args.bf16,
        "optim": str(getattr(training_args.optim, "value", training_args.optim)),
        "sparse": sparse,
        "tune_malloc": training_args.tune_malloc,
        "malloc_tuned_after": malloc_tuned(),
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


def cast_costs(numel, reps=3):
    """Seconds to cast `numel` fp32 values to bf16 and back into NEW tensors (what autocast does with the weights
    every step), and to allocate-and-fill one fp32 tensor of that size (first-touch page-fault cost)."""
    source = torch.ones(numel, dtype=torch.float32)
    half = source.to(torch.bfloat16)
    out = {}
    for name, fn in (("fp32_to_bf16_s", lambda: source.to(torch.bfloat16)), ("bf16_to_fp32_s", lambda: half.to(torch.float32)),
                     ("alloc_fill_fp32_s", lambda: torch.full((numel,), 1.0))):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
            del result
        out[name] = min(times)
    out["numel"] = numel
    del source, half
    return out


def step_flops(batch, num_features, hidden, num_layers, input_width):
    """Brief's convention: 6 x batch x (input_width*H + 2(L-2)H^2 + H) FLOPs per training step.

    `input_width` is `num_features` for the dense input layer and the mean number of non-zero features
    per item for the sparse (embedding_bag) input layer.
    """
    return 6 * batch * (input_width * hidden + 2 * (num_layers - 2) * hidden**2 + hidden)


# --------------------------------------------------------------------------------------------------
VARIANTS = [
    # Phase "default": the process as it starts (glibc's default malloc).
    dict(name="original_loop", label="original plain loop (fp32 dense, torch AdamW defaults)", batch=64, bf16=False, sparse=False, optim="torch-default"),
    dict(name="trainer_fp32_dense", label="PricerTrainer fp32 dense, adamw_torch (same optimizer as the original loop)", batch=64, bf16=False, sparse=False, optim="adamw_torch"),
    dict(name="trainer_fp32_dense_fused", label="PricerTrainer fp32 dense, adamw_torch_fused (transformers default)", batch=64, bf16=False, sparse=False, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_dense", label="PricerTrainer bf16 autocast dense, adamw_torch", batch=64, bf16=True, sparse=False, optim="adamw_torch"),
    dict(name="trainer_bf16_sparse", label="PricerTrainer bf16 autocast sparse input, adamw_torch", batch=64, bf16=True, sparse=True, optim="adamw_torch"),
    dict(name="trainer_bf16_sparse_fused", label="PricerTrainer bf16 autocast sparse input, adamw_torch_fused", batch=64, bf16=True, sparse=True, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_dense_fused", label="PricerTrainer bf16 autocast dense, adamw_torch_fused", batch=64, bf16=True, sparse=False, optim="adamw_torch_fused"),
    dict(name="trainer_bf16_sparse_fused_b256", label="PricerTrainer bf16 sparse fused, batch 256 (CHANGES training dynamics)", batch=256, bf16=True, sparse=True, optim="adamw_torch_fused"),
    dict(name="original_loop_repeat", label="original plain loop, measured again (run-to-run check)", batch=64, bf16=False, sparse=False, optim="torch-default"),
    # Phase "library": the default recipe path, which tunes malloc itself (PricerTrainingArguments.tune_malloc,
    # on by default for CPU training), so it runs after every default-malloc row.
    dict(name="recipe_default", label="default recipe path: recipes/train_residual.py + residual_design.yaml, no speed flags", batch=64, optim="recipe", malloc="library", recipe=True),
    # Phase "malloc-tuned": after mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2**31-1, M_TOP_PAD=1 GiB), so that
    # large tensors (weight gradients, autocast weight copies) reuse heap memory instead of fresh mmap'd pages.
    dict(name="tuned_original_loop", label="original plain loop, malloc-tuned", batch=64, bf16=False, sparse=False, optim="torch-default", malloc="tuned"),
    dict(name="tuned_trainer_fp32_dense_fused", label="PricerTrainer fp32 dense fused, malloc-tuned", batch=64, bf16=False, sparse=False, optim="adamw_torch_fused", malloc="tuned"),
    dict(name="tuned_trainer_bf16_dense_fused", label="PricerTrainer bf16 dense fused, malloc-tuned", batch=64, bf16=True, sparse=False, optim="adamw_torch_fused", malloc="tuned"),
    dict(name="tuned_trainer_bf16_sparse_fused", label="PricerTrainer bf16 sparse fused, malloc-tuned", batch=64, bf16=True, sparse=True, optim="adamw_torch_fused", malloc="tuned"),
    dict(name="tuned_trainer_bf16_sparse_fused_compile", label="PricerTrainer bf16 sparse fused + torch_compile=True, malloc-tuned", batch=64, bf16=True, sparse=True, optim="adamw_torch_fused", malloc="tuned", compile=True, extra_warmup=3),
    dict(name="tuned_trainer_bf16_sparse_fused_b256", label="PricerTrainer bf16 sparse fused, batch 256, malloc-tuned (CHANGES training dynamics)", batch=256, bf16=True, sparse=True, optim="adamw_torch_fused", malloc="tuned"),
    dict(name="tuned_trainer_fp32_dense_fused_b256", label="PricerTrainer fp32 dense fused, batch 256, malloc-tuned (CHANGES training dynamics)", batch=256, bf16=False, sparse=False, optim="adamw_torch_fused", malloc="tuned"),
]


def load_texts_and_prices(data_path):
    if os.path.isfile(data_path):
        items = hf_pricer.load_items(data_path, test_size=0.2, seed=42)["train"]
        source = os.path.relpath(os.path.abspath(data_path), REPO_ROOT)
    else:
        items = hf_pricer.load_items("catalog")["train"]
        source = "hf_pricer.load_items('catalog') (synthetic; real data not found)"
    return items, source


def measure_variant(variant, args, malloc_phase, peaks, X_train, y_train_norm, items, stats, nnz_mean, tmp):
    """Train one variant for warm-up + timed steps and return its result row."""
    warmup = args.warmup + variant.get("extra_warmup", 0)
    steps = warmup + args.steps
    quiet = None if args.no_wait else wait_for_quiet()
    t0 = time.perf_counter()
    error = None
    info = {}
    try:
        if variant["optim"] == "torch-default":
            samples, losses = run_original_loop(X_train, y_train_norm, args, steps, batch_size=variant["batch"])
            info = {"optimizer": "AdamW", "optimizer_fused": None, "optimizer_foreach": None,
                    "train_loss_mean": float(np.mean(losses)), "train_loss_last": losses[-1]}
        else:
            output_dir = os.path.join(tmp, variant["name"])
            if variant.get("recipe"):
                setup = recipe_training_args(args, steps, output_dir)
            else:
                setup = variant_training_args(variant, args, steps, output_dir)
            samples, info = run_trainer(items, stats, *setup)
    except Exception as exc:  # a variant that cannot run here (e.g. torch.compile without a compiler)
        error = f"{type(exc).__name__}: {exc}"
        samples = []
    gc.collect()
    row = dict(variant, malloc=malloc_phase, warmup=warmup, steps_total=steps)
    row.update(info)
    if malloc_phase == "library":  # what PricerTrainer's defaults did to malloc
        row["malloc"] = "tuned" if malloc_tuned() else "default"
        row["malloc_set_by"] = "PricerTrainer"
    if variant.get("recipe") and "bf16" in info:
        row["label"] += (f" (resolved: bf16={info['bf16']}, optim={info['optim']}, "
                         f"{'sparse' if info['sparse'] else 'dense'} input, tune_malloc={info['tune_malloc']})")
    row["variant_wall_s"] = time.perf_counter() - t0
    row["foreign_cpu_share_before"] = quiet
    if error or len(samples) < steps:
        row["error"] = error or f"only {len(samples)} of {steps} steps recorded"
        print(f"{variant['name']}: FAILED {row['error'][:300]}", flush=True)
        return row
    window = samples[warmup - 1 :]
    step_times = np.diff([sample[0] for sample in window])
    step_foreign = np.array([foreign_cpu_share(a, b) for a, b in zip(window[:-1], window[1:])])
    clean = step_foreign <= args.max_foreign
    elapsed = window[-1][0] - window[0][0]
    # Headline: median time of the steps during which other processes used <= max_foreign of the CPUs.
    n_clean = int(clean.sum())
    step_time = float(np.median(step_times[clean])) if n_clean else float(np.median(step_times))
    rate = variant["batch"] / step_time
    width = nnz_mean if row["sparse"] else args.num_features
    flops = step_flops(variant["batch"], args.num_features, args.hidden_size, args.num_layers, width)
    gflops = flops / step_time / 1e9
    peak_kind = "bf16" if row["bf16"] else "fp32"
    peak = max(p[peak_kind]["best_gflops"] for p in peaks.values())
    row.update(
        timed_steps=args.steps,
        clean_steps=n_clean,
        step_time_clean_median_s=step_time,
        step_times_s=[float(t) for t in step_times],
        step_foreign_cpu_share=[float(f) for f in step_foreign],
        timed_window_s=elapsed,
        window_samples_per_s=variant["batch"] * args.steps / elapsed,
        step_time_min_s=float(np.min(step_times)),
        step_time_max_s=float(np.max(step_times)),
        foreign_cpu_share=foreign_cpu_share(window[0], window[-1]),
        samples_per_s=rate,
        flops_per_step=flops,
        achieved_gflops=gflops,
        peak_used=peak_kind,
        pct_of_peak=100 * gflops / peak,
    )
    print(
        f"{variant['name']}: {rate:.1f} samples/s (median of {n_clean}/{args.steps} clean steps {step_time:.2f} s; whole window "
        f"{row['window_samples_per_s']:.1f} samples/s), {gflops:.0f} GFLOP/s = {100 * gflops / peak:.0f}% of {peak_kind} peak; "
        f"other processes {100 * row['foreign_cpu_share']:.0f}% CPU; "
        f"variant wall {row['variant_wall_s']:.0f} s",
        flush=True,
    )
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA, help="items file (falls back to the synthetic catalog)")
    parser.add_argument("--steps", type=int, default=12, help="timed optimizer steps per variant (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up optimizer steps per variant")
    parser.add_argument("--hidden-size", type=int, default=4096)
    parser.add_argument("--num-layers", type=int, default=10)
    parser.add_argument("--num-features", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--variants", nargs="*", default=None, help=f"subset of {[v['name'] for v in VARIANTS]}")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--no-tuned", action="store_true", help="skip the malloc-tuned phase")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for other processes to go quiet")
    parser.add_argument("--max-foreign", type=float, default=0.08, help="a timed step is 'clean' when other processes used at most this share of the CPUs during it")
    parser.add_argument("--retries", type=int, default=4, help="re-measurements of a contended variant")
    parser.add_argument("--min-clean", type=int, default=None, help="clean (uncontended) timed steps a variant needs (default: half of --steps, at least 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: hidden 512, 3 timed steps, results to *_quick.*")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden_size, args.steps, args.warmup = 512, 3, 2
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else "benchmarks/residual_throughput.py"
    command = " ".join(["python", script] + sys.argv[1:])
    run_start = time.perf_counter()
    transformers.utils.logging.set_verbosity_error()

    variants = [v for v in VARIANTS if args.variants is None or v["name"] in args.variants]
    if args.no_compile:
        variants = [v for v in variants if not v.get("compile")]
    if args.no_tuned:
        variants = [v for v in variants if v.get("malloc", "default") != "tuned"]
    phases = ("default", "library", "tuned")  # default malloc first: mallopt cannot be undone
    variants.sort(key=lambda v: phases.index(v.get("malloc", "default")))

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, threads {threads}", flush=True)
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
    with torch.device("meta"):
        n_params = sum(p.numel() for p in DeepNeuralNetwork(args.num_features, args.num_layers, args.hidden_size).parameters())
    print(f"data: {source}, {len(items)} items, mean non-zero features {nnz_mean:.1f}; model {n_params:,} params", flush=True)

    peaks = {}
    results = []
    min_clean = args.min_clean or max(3, (args.steps + 1) // 2)
    malloc_phase = "default"
    malloc_settings = None
    with tempfile.TemporaryDirectory() as tmp:
        for phase in phases:
            phase_variants = [v for v in variants if v.get("malloc", "default") == phase]
            if not phase_variants:
                continue
            if phase == "tuned":
                malloc_settings = tune_malloc()
                if malloc_settings is None:
                    print("mallopt unavailable: skipping the malloc-tuned phase", flush=True)
                    break
                print(f"malloc tuned: {malloc_settings}", flush=True)
            malloc_phase = phase
            if not args.no_wait:
                wait_for_quiet()
            for attempt in range(args.retries + 1 if phase != "library" else 0):  # the library phase uses the others' peaks
                first = cpu_sample()
                peaks[phase] = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16), "casts": cast_costs(n_params)}
                peaks[phase]["foreign_cpu_share"] = foreign_cpu_share(first, cpu_sample())
                if peaks[phase]["foreign_cpu_share"] <= args.max_foreign:
                    break
                print(f"  peak measurement contended ({100 * peaks[phase]['foreign_cpu_share']:.0f}%), measuring again", flush=True)
                if not args.no_wait:
                    wait_for_quiet()
            if phase in peaks:
                print(f"[{phase} malloc] peak fp32 {peaks[phase]['fp32']['best_gflops']:.0f} GFLOP/s, "
                      f"bf16 {peaks[phase]['bf16']['best_gflops']:.0f} GFLOP/s", flush=True)
            for variant in phase_variants:
                discarded = []
                for attempt in range(args.retries + 1):
                    row = measure_variant(variant, args, malloc_phase, peaks, X_train, y_train_norm, items, stats, nnz_mean, tmp)
                    contended = row.get("clean_steps", args.steps) < min_clean
                    if "error" in row or not contended or attempt == args.retries:
                        break
                    print(f"  {variant['name']}: only {row['clean_steps']} steps without other processes; measuring again", flush=True)
                    discarded.append({k: row.get(k) for k in ("samples_per_s", "clean_steps", "foreign_cpu_share", "window_samples_per_s", "variant_wall_s")})
                row["discarded_contended_attempts"] = discarded
                results.append(row)
    malloc_settings = malloc_settings or (tune_malloc() if malloc_tuned() else None)
    original_rates = {}
    for row in results:
        if row["optim"] == "torch-default" and "samples_per_s" in row:
            original_rates.setdefault(row["malloc"], row["samples_per_s"])
    for row in results:
        if "samples_per_s" not in row:
            continue
        if "default" in original_rates:
            row["ratio_vs_original"] = row["samples_per_s"] / original_rates["default"]
        if row["malloc"] in original_rates:
            row["ratio_vs_original_same_malloc"] = row["samples_per_s"] / original_rates[row["malloc"]]

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
        "timed_steps": args.steps,
        "max_foreign": args.max_foreign,
        "min_clean_steps": min_clean,
        "warmup": args.warmup,
        "peaks": peaks,
        "malloc_tuning": malloc_settings,
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
    peaks = m["peaks"]
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
        f"- timing: per variant {m['warmup']} untimed warm-up optimizer steps, then {m['timed_steps']} timed steps, each timed from "
        "the end of one optimizer step to the end of the next (so it includes data loading and, for PricerTrainer, hashing in the "
        "collator; model construction, Trainer setup and optimizer-state allocation are excluded). samples/s = batch / median "
        f"time of the 'clean' timed steps, those during which other processes used <= {100 * m['max_foreign']:.0f}% of the "
        "machine's CPU time (this machine is shared; a variant with too few clean steps is measured again). The last column "
        "is the plain batch x steps / wall time over all timed steps, with the other processes' CPU share over that window",
    ]
    for phase, peak in peaks.items():
        lines.append(
            f"- peak matmul, {phase} malloc (4096x4096 @ 4096x4096, best of {peak['fp32']['reps']}): fp32 "
            f"{peak['fp32']['best_gflops']:.0f} GFLOP/s, bf16 {peak['bf16']['best_gflops']:.0f} GFLOP/s "
            f"(bf16/fp32 = {peak['bf16']['best_gflops'] / peak['fp32']['best_gflops']:.2f})"
        )
        if "casts" in peak:
            c = peak["casts"]
            lines.append(
                f"- cost of new tensors the size of the model ({c['numel']:,} values), {phase} malloc: fp32->bf16 cast "
                f"{c['fp32_to_bf16_s']:.2f} s, bf16->fp32 cast {c['bf16_to_fp32_s']:.2f} s, allocate+fill fp32 "
                f"{c['alloc_fill_fp32_s']:.2f} s (autocast casts every weight to bf16 in forward and every weight "
                "gradient back to fp32 in backward, every step)"
            )
    if m.get("malloc_tuning"):
        lines.append(f"- malloc-tuned rows: glibc `mallopt` {m['malloc_tuning']} applied in-process before them (see notes)")
    lines += [
        "",
        "| variant | malloc | batch | samples/s | vs original loop | vs original loop, same malloc | step (s) | clean steps | achieved GFLOP/s | % of peak | whole-window samples/s (other procs CPU) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        if "error" in row:
            lines.append(f"| {row['label']} | {row['malloc']} | {row['batch']} | failed: {row['error'][:160]} | | | | | | | |")
            continue
        ratio = f"{row['ratio_vs_original']:.2f}x" if "ratio_vs_original" in row else "n/a"
        same = f"{row['ratio_vs_original_same_malloc']:.2f}x" if "ratio_vs_original_same_malloc" in row else "n/a"
        lines.append(
            f"| {row['label']} | {row['malloc']}{' (by PricerTrainer)' if row.get('malloc_set_by') else ''} | {row['batch']} | {row['samples_per_s']:.1f} | {ratio} | {same} | "
            f"{row['step_time_clean_median_s']:.2f} | {row['clean_steps']}/{row['timed_steps']} | {row['achieved_gflops']:.0f} | "
            f"{row['pct_of_peak']:.0f}% ({row['peak_used']}) | {row['window_samples_per_s']:.1f} ({100 * row['foreign_cpu_share']:.0f}%) |"
        )
    lines += [
        "",
        "FLOPs per step: 6 x batch x (input_width x hidden + 2 x (num_layers - 2) x hidden^2 + hidden), with "
        "input_width = num_features for dense input and the mean non-zero feature count for sparse input "
        "(embedding_bag touches only those rows). The dense input layer really executes 4 x batch x num_features x "
        "hidden (its input needs no gradient), so dense rows overcount by 2 x batch x num_features x hidden "
        "(about 2% at the design size). bf16 rows are compared with the best bf16 peak, fp32 rows with the best fp32 peak; "
        "LayerNorm, the fp32<->bf16 casts of autocast, the optimizer step, gradient clipping and data loading count no "
        "FLOPs.",
        "",
    ]
    lines += verdict(meta, results)
    return "\n".join(lines)


def verdict(meta, results, target=4.0):
    enough = meta.get("min_clean_steps", 0)
    ok = [r for r in results if "ratio_vs_original" in r and r["optim"] != "torch-default" and r["clean_steps"] >= enough]
    originals = [r for r in results if r["optim"] == "torch-default" and "samples_per_s" in r]
    if not ok or not originals:
        return []

    def best(rows):
        return max(rows, key=lambda r: r["samples_per_s"]) if rows else None

    def says(row):
        if row is None:
            return "no uncontended measurement"
        met = "MET" if row["ratio_vs_original"] >= target else "NOT met"
        return f"{row['label']}: {row['samples_per_s']:.1f} samples/s = **{row['ratio_vs_original']:.2f}x** ({met})"

    recipe = best([r for r in ok if r.get("recipe")])
    default_b64 = best([r for r in ok if r["batch"] == 64 and r["malloc"] == "default"])
    any_b64 = best([r for r in ok if r["batch"] == 64])
    overall = best(ok)
    peaks = meta["peaks"].get("default") or next(iter(meta["peaks"].values()))
    ratio = peaks["bf16"]["best_gflops"] / peaks["fp32"]["best_gflops"]
    original = originals[0]
    lines = [
        f"## Verdict: target >= {target:g}x the original loop's samples/s",
        "",
        f"(rows with fewer than {enough} clean timed steps are left out here)" if enough else "",
        f"- **the default recipe path**, batch 64 (`recipes/train_residual.py recipes/configs/residual_design.yaml`, no "
        f"speed flags: what a user runs): {says(recipe)}"
        + (f", {recipe['pct_of_peak']:.0f}% of the measured {recipe['peak_used']} matmul peak" if recipe else ""),
        f"- batch 64, PricerTrainer with the speed flags named, default malloc: {says(default_b64)}",
        f"- batch 64, with the in-process malloc tuning: {says(any_b64)}"
        + (f"; {any_b64['ratio_vs_original_same_malloc']:.2f}x against the original loop under the same malloc tuning"
           if any_b64 and "ratio_vs_original_same_malloc" in any_b64 else ""),
        f"- any batch: {says(overall)}" + (" -- a larger batch means fewer optimizer steps per epoch: the training dynamics "
                                          "change (learning rate and schedule would need retuning), so it is not the same training run"
                                          if overall and overall["batch"] != 64 else ""),
        f"- original loop, run to run: " + ", ".join(f"{r['label']} {r['samples_per_s']:.1f} samples/s ({r['malloc']} malloc)" for r in originals),
        f"- bound at equal batch: the bf16/fp32 peak matmul ratio is {ratio:.2f}, so moving the matmuls to bf16 can at most "
        f"speed the matmul part up {ratio:.2f}x; the original loop reaches {original['pct_of_peak']:.0f}% of the fp32 peak, i.e. "
        f"about {100 - original['pct_of_peak']:.0f}% of its step is not matmul time (optimizer, gradient clipping, memory "
        "allocation/page faults, LayerNorm, data). Any speed-up beyond the peak ratio has to come from that non-matmul part "
        "(fused AdamW, fewer fresh allocations) or from a larger batch.",
        "",
    ]
    return lines


if __name__ == "__main__":
    main()
