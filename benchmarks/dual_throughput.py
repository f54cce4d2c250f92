"""Training throughput of the dual-encoder price model: PricerTrainer vs a plain PyTorch loop, and whether image
preprocessing keeps up with training.

    python benchmarks/dual_throughput.py           # full run (~5 min on 2 CPU cores)
    python benchmarks/dual_throughput.py --quick   # smoke run (64 px, a few steps), results to *_quick.*

(a) Trainer overhead. The model of `recipes/configs/dual_cpu.yaml` (all-MiniLM-L6-v2 + EfficientNet-Lite0,
fused `tokens`, 160 px, batch 32, bf16 autocast), built with the recipe's own `build_model` / `build_processor`,
with BOTH ENCODERS TRAINABLE (the recipe's phase after the frozen warm-up; per-module learning rates image 1e-4,
text 2e-5, rest 1e-3). The batches are collated once, up front, by `DualEncoderCollator(train=True)` (so neither
side pays for preprocessing), and both sides consume the same batches in the same order:

- plain loop: `torch.autocast("cpu", bfloat16)` forward, SMAPE loss (`hf_pricer.modeling_utils.price_loss`),
  backward, `clip_grad_norm_(1.0)`, AdamW with the optimizer class and arguments the Trainer picks
  (`Trainer.get_optimizer_cls_and_kwargs`, i.e. fused AdamW) over the same per-module parameter groups
  (`hf_pricer.trainer.module_parameter_groups`), linear LR decay, `zero_grad(set_to_none=True)`;
- `PricerTrainer` with the same settings (`logging/eval/save_strategy="no"`), fed by a dataset whose items
  are the pre-collated batches (`per_device_train_batch_size=1`, identity collator, sequential sampler).

Each run builds a fresh model (same seed); the wall time from the end of optimizer step `--warmup` to the end of
step `--warmup + --steps` is measured. Runs alternate plain / Trainer `--repeats` times; the ratio is that of
the medians over repeats of each side's mean step time.

(b) Data pipeline. Images/s of `DualEncoderCollator(train=True)` (load PNG → resize → flip/rotate/jitter →
normalise, plus tokenization) in this process at 160 and 224 px (`--sizes`), on catalog items rendered at that
size, split into image processing and tokenization; compared with the model's training throughput (samples/s of
the plain loop, encoders trainable and frozen) at the same size. The preset uses `dataloader_num_workers=0`,
so preprocessing runs serially with training: its share of a training step is collate / (collate + step).

Results: benchmarks/results/dual_throughput.{md,json}
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import transformers  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.modeling_utils import price_loss  # noqa: E402
from hf_pricer.trainer import module_parameter_groups  # noqa: E402
from residual_throughput import StepTimer, _cpu_name, cpu_sample, foreign_cpu_share, wait_for_quiet  # noqa: E402

MODULE_LRS = {"image_encoder": 1e-4, "text_encoder": 2e-5}


def recipe_pieces(image_size, output_dir):
    """Model arguments / training arguments of the recipe's CPU preset at `image_size`, and a builder."""
    import train_dual
    from hf_pricer.cli import parse_recipe_args

    model_args, encoders, data_args, strategy, training_args = parse_recipe_args(
        train_dual.ARGUMENT_TYPES, train_dual.CPU_PRESET, ["--image_size", str(image_size), "--output_dir", output_dir]
    )
    return train_dual, model_args, encoders, data_args, training_args


def build(image_size, stats, output_dir):
    train_dual, model_args, encoders, data_args, training_args = recipe_pieces(image_size, output_dir)
    transformers.set_seed(42)
    model = train_dual.build_model(model_args, encoders, *stats)
    processor = train_dual.build_processor(encoders, data_args, model)
    return model, processor, training_args


def collate_batches(collator, items, batch_size, count, seed=0):
    torch.manual_seed(seed)
    batches = []
    for index in range(count):
        rows = [items[i] for i in range(index * batch_size, (index + 1) * batch_size)]
        batches.append(collator(rows))
    return batches


def step_seconds(step_ends, warmup, steps):
    """Mean seconds per step over steps warmup+1..warmup+steps, and the foreign CPU share meanwhile."""
    first, last = step_ends[warmup - 1], step_ends[warmup + steps - 1]
    return (last[0] - first[0]) / steps, foreign_cpu_share(first, last)


def set_encoders_trainable(model, trainable):
    for name, param in model.named_parameters():
        if name.startswith(("image_encoder.", "text_encoder.")):
            param.requires_grad_(trainable)


def optimizer_for(model, training_args):
    decay = set(transformers.Trainer.get_decay_parameter_names(None, model))
    groups = module_parameter_groups(model, training_args.learning_rate, training_args.weight_decay, MODULE_LRS, decay)
    cls, kwargs = transformers.Trainer.get_optimizer_cls_and_kwargs(training_args, model)
    return cls(groups, **kwargs), cls.__name__, kwargs


def run_plain(image_size, stats, batches, warmup, steps, trainable, tmp):
    model, _, training_args = build(image_size, stats, tmp)
    set_encoders_trainable(model, trainable)
    config = model.config
    optimizer, optimizer_name, optimizer_kwargs = optimizer_for(model, training_args)
    total = warmup + steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
    model.train()
    step_ends = []
    for batch in batches[:total]:
        inputs = dict(batch)
        labels = inputs.pop("labels")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = model(**inputs)
            loss = price_loss(outputs.log_price, labels, config.loss_type, config.log_price_mean, config.log_price_std)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), training_args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_ends.append(cpu_sample())
    info = {"optimizer": optimizer_name, "optimizer_kwargs": {k: str(v) for k, v in optimizer_kwargs.items()},
            "final_loss": float(loss)}
    del model, optimizer
    return step_ends, info


class _BatchDataset(torch.utils.data.Dataset):
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


class _SequentialPricerTrainer(hf_pricer.PricerTrainer):
    """PricerTrainer reading the pre-collated batches in order (so both sides time the same batches)."""

    def _get_train_sampler(self, *args, **kwargs):
        return torch.utils.data.SequentialSampler(self.train_dataset)


def run_trainer(image_size, stats, batches, warmup, steps, tmp):
    model, _, preset_args = build(image_size, stats, tmp)
    training_args = hf_pricer.PricerTrainingArguments(
        output_dir=os.path.join(tmp, "trainer"),
        max_steps=warmup + steps,
        per_device_train_batch_size=1,
        learning_rate=preset_args.learning_rate,
        weight_decay=preset_args.weight_decay,
        max_grad_norm=preset_args.max_grad_norm,
        module_learning_rates=dict(MODULE_LRS),
        bf16=True,
        use_cpu=True,
        report_to="none",
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        seed=42,
    )
    timer = StepTimer()
    trainer = _SequentialPricerTrainer(
        model=model,
        args=training_args,
        train_dataset=_BatchDataset(batches[: warmup + steps]),
        data_collator=lambda rows: rows[0],
        callbacks=[timer],
    )
    trainer.remove_callback(transformers.PrinterCallback)
    output = trainer.train()
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    info = {"optimizer": type(optimizer).__name__, "fused": optimizer.defaults.get("fused"),
            "final_loss": output.training_loss, "optim": str(training_args.optim)}
    del trainer, model
    return timer.step_ends, info


def time_preprocessing(processor, items, batch_size, repeats):
    """Best-of-`repeats` seconds to collate all `items` in batches: full collator, images only, text only."""
    collator = hf_pricer.DualEncoderCollator(processor, train=True)
    batches = [items.select(range(i, min(i + batch_size, len(items)))).to_list() for i in range(0, len(items), batch_size)]
    timings = {"collator": [], "images": [], "tokenizer": []}
    for _ in range(repeats):
        start = time.perf_counter()
        for rows in batches:
            collator(rows)
        timings["collator"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for rows in batches:
            processor.image_processor([row["image"] for row in rows], train=True)
        timings["images"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for rows in batches:
            processor(text=[processor.item_text(row) for row in rows])
        timings["tokenizer"].append(time.perf_counter() - start)
    return {name: len(items) / min(values) for name, values in timings.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=160, help="image size of the Trainer-vs-loop comparison (a)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[160, 224], help="image sizes of the pipeline comparison (b)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="alternating plain/Trainer runs in (a)")
    parser.add_argument("--pipeline-steps", type=int, default=4, help="timed plain-loop steps per size in (b)")
    parser.add_argument("--pipeline-items", type=int, default=256)
    parser.add_argument("--skip-a", action="store_true")
    parser.add_argument("--skip-b", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 64/96 px, 2+2 steps, one repeat")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size, args.sizes, args.warmup, args.steps, args.repeats = 64, [64, 96], 2, 2, 1
        args.pipeline_steps, args.pipeline_items = 2, 64

    transformers.utils.logging.set_verbosity_error()
    import logging

    import datasets

    logging.getLogger("hf_pricer").setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT) if sys.argv and sys.argv[0] else "benchmarks/dual_throughput.py"
    command = " ".join(["python", script] + (sys.argv[1:] if argv is None else list(argv)))
    run_start = time.perf_counter()
    run_sample = cpu_sample()

    def quiet():
        if not args.quick:
            wait_for_quiet(max_wait=60)

    needed = max(args.warmup + args.steps, args.warmup + args.pipeline_steps) * args.batch_size
    results = {"a": None, "b": []}

    def catalog(size, n):
        return hf_pricer.load_items("catalog", "train", catalog_size=math.ceil(n / 0.8) + 1, with_images=True,
                                    image_size=size, seed=42)

    with tempfile.TemporaryDirectory() as tmp:
        items_cache = {}
        if not args.skip_a:
            items = items_cache.setdefault(args.image_size, catalog(args.image_size, needed))
            stats = hf_pricer.log_price_statistics(items)
            _, processor, _ = build(args.image_size, stats, tmp)
            batches = collate_batches(hf_pricer.DualEncoderCollator(processor, train=True), items, args.batch_size,
                                      args.warmup + args.steps)
            seq_lens = [b["input_ids"].shape[1] for b in batches]
            runs = {"plain": [], "trainer": []}
            for repeat in range(args.repeats):
                for side in ("plain", "trainer"):
                    quiet()
                    if side == "plain":
                        ends, info = run_plain(args.image_size, stats, batches, args.warmup, args.steps, True, tmp)
                    else:
                        ends, info = run_trainer(args.image_size, stats, batches, args.warmup, args.steps, tmp)
                    seconds, foreign = step_seconds(ends, args.warmup, args.steps)
                    runs[side].append({"step_s": seconds, "foreign_cpu_share": foreign, **info})
                    print(f"(a) repeat {repeat} {side}: {seconds:.3f} s/step ({args.batch_size / seconds:.1f} samples/s), "
                          f"foreign CPU {100 * foreign:.0f}%, {info}", flush=True)
            plain = statistics.median(r["step_s"] for r in runs["plain"])
            trainer = statistics.median(r["step_s"] for r in runs["trainer"])
            results["a"] = {"image_size": args.image_size, "runs": runs, "plain_step_s": plain, "trainer_step_s": trainer,
                            "ratio": trainer / plain, "seq_lens": seq_lens}
            print(f"(a) PricerTrainer / plain loop = {trainer / plain:.3f}", flush=True)

        if not args.skip_b:
            for size in args.sizes:
                items = items_cache.get(size) or catalog(size, max(needed, args.pipeline_items))
                items_cache[size] = items
                stats = hf_pricer.log_price_statistics(items)
                _, processor, _ = build(size, stats, tmp)
                quiet()
                rates = time_preprocessing(processor, items.select(range(min(args.pipeline_items, len(items)))),
                                           args.batch_size, repeats=2)
                batches = collate_batches(hf_pricer.DualEncoderCollator(processor, train=True), items, args.batch_size,
                                          args.warmup + args.pipeline_steps)
                training = {}
                for mode, trainable in (("encoders trainable", True), ("encoders frozen", False)):
                    if (mode == "encoders trainable" and results["a"] is not None and size == args.image_size):
                        training[mode] = {"step_s": results["a"]["plain_step_s"], "from": "(a)"}
                        continue
                    quiet()
                    ends, _ = run_plain(size, stats, batches, args.warmup, args.pipeline_steps, trainable, tmp)
                    seconds, foreign = step_seconds(ends, args.warmup, args.pipeline_steps)
                    training[mode] = {"step_s": seconds, "foreign_cpu_share": foreign}
                row = {"image_size": size, "preprocess_items_per_s": rates, "training": {}}
                collate_s = args.batch_size / rates["collator"]
                for mode, t in training.items():
                    row["training"][mode] = {
                        **t,
                        "samples_per_s": args.batch_size / t["step_s"],
                        "collate_share_serial": collate_s / (collate_s + t["step_s"]),
                    }
                results["b"].append(row)
                print(f"(b) {size} px: preprocessing {rates} items/s; training {row['training']}", flush=True)

    meta = {
        "command": command,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "timm": __import__("timm").__version__,
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "warmup": args.warmup,
        "steps": args.steps,
        "repeats": args.repeats,
        "pipeline_steps": args.pipeline_steps,
        "pipeline_items": args.pipeline_items,
        "total_runtime_s": time.perf_counter() - run_start,
        "foreign_cpu_share": foreign_cpu_share(run_sample, cpu_sample()),
    }
    os.makedirs(args.out, exist_ok=True)
    stem = "dual_throughput_quick" if args.quick else "dual_throughput"
    with open(os.path.join(args.out, stem + ".json"), "w") as handle:
        json.dump({"meta": meta, "results": results}, handle, indent=2, default=str)
    with open(os.path.join(args.out, stem + ".md"), "w") as handle:
        handle.write(render_markdown(meta, results))
    print(f"wrote {os.path.join(args.out, stem)}.{{md,json}} in {meta['total_runtime_s']:.0f} s", flush=True)
    return 0


def render_markdown(meta, results):
    m = meta
    lines = [
        "# Dual encoder: training throughput and data pipeline",
        "",
        f"- command: `{m['command']}` (from the repo root)",
        f"- date: {m['date']}; total runtime {m['total_runtime_s']:.0f} s (other processes used "
        f"{100 * m['foreign_cpu_share']:.0f}% of the machine's CPU time meanwhile; wall-clock times on a shared machine)",
        f"- torch {m['torch']}, transformers {m['transformers']}, timm {m['timm']}, Python {m['python']}; {m['cpu']}, "
        f"{m['cpu_count']} CPU cores, torch threads {m['torch_threads']}",
        "- model: `recipes/configs/dual_cpu.yaml` (all-MiniLM-L6-v2 + EfficientNet-Lite0 ImageNet, fused `tokens`, "
        f"projection 256, max 128 tokens), batch {m['batch_size']}, bf16 autocast, AdamW with per-module learning rates, "
        "clip 1.0, linear decay; synthetic catalog items (train split, seed 42)",
        "",
    ]
    a = results.get("a")
    if a:
        lines += [
            f"## (a) PricerTrainer vs plain PyTorch loop ({a['image_size']} px, encoders trainable)",
            "",
            f"Same pre-collated batches in the same order (text lengths {min(a['seq_lens'])}–{max(a['seq_lens'])} tokens), "
            f"fresh model per run, steps {m['warmup'] + 1}–{m['warmup'] + m['steps']} timed after {m['warmup']} warm-up steps, "
            f"{m['repeats']} alternating repeat(s).",
            "",
            "| run | side | s/step | samples/s | other processes' CPU share | optimizer |",
            "|---|---|---:|---:|---:|---|",
        ]
        for side in ("plain", "trainer"):
            for index, r in enumerate(a["runs"][side]):
                opt = r.get("optimizer", "")
                if side == "trainer":
                    opt += f" (fused={r.get('fused')}, optim {r.get('optim')})"
                else:
                    opt += f" {r.get('optimizer_kwargs', {})}"
                lines.append(f"| {index} | {'plain loop' if side == 'plain' else 'PricerTrainer'} | {r['step_s']:.3f} | "
                             f"{m['batch_size'] / r['step_s']:.1f} | {100 * r['foreign_cpu_share']:.0f}% | {opt} |")
        lines += [
            "",
            f"**PricerTrainer / plain loop step time: {a['ratio']:.3f}×** (medians over repeats: "
            f"{a['trainer_step_s']:.3f} s vs {a['plain_step_s']:.3f} s; target ≤ 1.05×)",
            "",
        ]
    if results.get("b"):
        lines += [
            "## (b) Image preprocessing vs training throughput",
            "",
            f"Preprocessing: best of 2 passes over {m['pipeline_items']} catalog items in batches of {m['batch_size']}, "
            "in this process (the per-image transforms run on one thread). Training: plain loop (as in (a)), "
            f"{m['pipeline_steps']} timed steps after {m['warmup']} warm-up steps unless taken from (a). "
            "'Serial share' = collate time / (collate + training step) for one batch, i.e. the slowdown share with "
            "`dataloader_num_workers=0` (the preset).",
            "",
            "| image size | collator items/s (train mode) | images only items/s | tokenizer only items/s | training | training samples/s | serial share of preprocessing |",
            "|---:|---:|---:|---:|---|---:|---:|",
        ]
        for row in results["b"]:
            rates = row["preprocess_items_per_s"]
            for mode, t in row["training"].items():
                lines.append(
                    f"| {row['image_size']} | {rates['collator']:.0f} | {rates['images']:.0f} | {rates['tokenizer']:.0f} | "
                    f"{mode} | {t['samples_per_s']:.1f} | {100 * t['collate_share_serial']:.1f}% |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
