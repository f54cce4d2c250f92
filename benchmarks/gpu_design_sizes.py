"""Training throughput at the design sizes on a GPU: samples/s, peak GPU memory and achieved TFLOP/s.

    python benchmarks/gpu_design_sizes.py                          # on a CUDA GPU: both models, 300 steps each
    python benchmarks/gpu_design_sizes.py --device cpu --tiny      # check that it builds and runs (tiny sizes, 1 step)

NOT RUN ON A GPU YET: this script is prepared for one; on a CPU it only checks itself (`--device cpu --tiny`).

- Dual encoder, `recipes/configs/dual_design.yaml`: BERT-base (`BertConfig()`) and EfficientNet-B4 (timm) built
  from their configs with random weights (the design starts from pretrained ones; speed does not depend on them),
  380 px, projection 512, pooled cross-attention, batch 35, fp16 (bf16 where the GPU has no fp16 speed-up is not
  tried), the design's per-module learning rates; both encoders trainable (the design's phase after its 4 frozen
  epochs, the costly one).
- Residual regressor, `recipes/configs/residual_design.yaml`: 10 layers x 4096 on 5000 hashed features, batch 64,
  fp16.

Each trains for `--steps` steps through `PricerTrainer` with the recipe's own arguments (parsed from the YAML) on
synthetic, already processed batches (random token ids of the full `max_text_length`, random pixels; random hashed
features), so data loading does not limit it. Timing starts after `--warmup` steps; the GPU is synchronised at every
step end. FLOPs per step are counted once by `torch.utils.flop_counter.FlopCounterMode` (forward and backward).

Results: benchmarks/results/gpu_design_sizes.{md,json} (`--out` elsewhere; `--tiny` runs write *_tiny.*)
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

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "benchmarks", "results")
CONFIGS = os.path.join(REPO_ROOT, "recipes", "configs")
sys.path.insert(0, os.path.join(REPO_ROOT, "recipes"))

import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

import hf_pricer  # noqa: E402
from hf_pricer.cli import parse_recipe_args  # noqa: E402


class SyntheticBatches(Dataset):
    """`length` processed examples drawn at random (fixed seed) from `make(generator)`."""

    def __init__(self, make, length: int):
        self.make, self.length = make, length

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        return self.make(torch.Generator().manual_seed(index))


def stack(examples):
    return {name: torch.stack([example[name] for example in examples]) for name in examples[0]}


def training_overrides(args, output_dir, device):
    overrides = ["--output_dir", output_dir, "--max_steps", str(args.warmup + args.steps), "--eval_strategy", "no",
                 "--save_strategy", "no", "--load_best_model_at_end", "false", "--logging_strategy", "no",
                 "--disable_tqdm", "true", "--report_to", "none", "--dataloader_num_workers", "0"]
    if args.tiny:
        overrides += ["--per_device_train_batch_size", "2"]
    if device == "cpu":  # fp16 autocast needs the GPU; the CPU check runs in fp32
        overrides += ["--fp16", "false", "--bf16", "false", "--use_cpu", "true"]
    else:
        overrides += ["--fp16", "true"]
    return overrides


def dual_setup(args, output_dir, device):
    import train_dual

    model_args, encoders, _, strategy, training_args = parse_recipe_args(train_dual.ARGUMENT_TYPES, args=[
        os.path.join(CONFIGS, "dual_design.yaml"), *training_overrides(args, output_dir, device), "--streaming", "false"])
    kwargs = model_args.config_kwargs()
    text_config = transformers.BertConfig()  # BERT-base, random weights
    if args.tiny:
        text_config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                              intermediate_size=64)
        kwargs.update(image_size=64, projection_dim=32, head_hidden_sizes=[32, 16, 8])
    model = hf_pricer.DualEncoderForPriceRegression(hf_pricer.DualEncoderConfig(text_config=text_config, **kwargs))
    training_args.module_learning_rates = {"image_encoder": strategy.image_encoder_lr,
                                           "text_encoder": strategy.text_encoder_lr}
    size, length, vocab = model.config.image_size, min(encoders.max_text_length, 16 if args.tiny else 512), \
        text_config.vocab_size

    def example(generator):
        return {"input_ids": torch.randint(1, vocab, (length,), generator=generator),
                "attention_mask": torch.ones(length, dtype=torch.long),
                "pixel_values": torch.randn(3, size, size, generator=generator),
                "labels": torch.rand((), generator=generator) * 200 + 1}

    return model, training_args, example


def residual_setup(args, output_dir, device):
    import train_residual

    model_args, _, _, training_args = parse_recipe_args(train_residual.ARGUMENT_TYPES, args=[
        os.path.join(CONFIGS, "residual_design.yaml"), *training_overrides(args, output_dir, device)])
    kwargs = model_args.config_kwargs()
    if args.tiny:
        kwargs.update(hidden_size=64, num_layers=3)
    model = hf_pricer.ResidualRegressorForPriceRegression(hf_pricer.ResidualRegressorConfig(**kwargs))
    width = model.config.num_features

    def example(generator):
        features = (torch.rand(width, generator=generator) < 0.01).float()
        return {"input_features": features / features.norm().clamp(min=1), "labels": torch.rand((), generator=generator) * 200 + 1}

    return model, training_args, example


def flops_per_step(model, batch, device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model = model.to(device).train()
    inputs = {name: value.to(device) for name, value in batch.items()}
    counter = FlopCounterMode(display=False)
    with counter:
        model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


class StepClock(transformers.TrainerCallback):
    def __init__(self, device):
        self.device, self.ends = device, []

    def on_step_end(self, args, state, control, **kwargs):
        if self.device == "cuda":
            torch.cuda.synchronize()
        self.ends.append(time.perf_counter())


def measure(name, setup, args, device):
    with tempfile.TemporaryDirectory() as output_dir:
        model, training_args, example = setup(args, output_dir, device)
        batch_size = training_args.per_device_train_batch_size
        dataset = SyntheticBatches(example, batch_size * (args.warmup + args.steps))
        flops = flops_per_step(model, stack([dataset[i] for i in range(batch_size)]), device)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        clock = StepClock(device)
        trainer = hf_pricer.PricerTrainer(model=model, args=training_args, train_dataset=dataset, data_collator=stack,
                                          callbacks=[clock])
        trainer.train()
    timed = clock.ends[args.warmup - 1:] if args.warmup else clock.ends
    seconds = (timed[-1] - timed[0]) / max(len(timed) - 1, 1) if len(timed) > 1 else float("nan")
    row = {
        "model": name,
        "parameters": model.num_parameters(),
        "batch_size": batch_size,
        "precision": "fp16" if training_args.fp16 else ("bf16" if training_args.bf16 else "fp32"),
        "steps_timed": max(len(timed) - 1, 0),
        "step_s": seconds,
        "samples_per_s": batch_size / seconds,
        "flops_per_step": flops,
        "achieved_tflops": flops / seconds / 1e12,
        "peak_gpu_memory_gb": torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else None,
    }
    print(json.dumps(row), flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, 1 timed step: checks the script on a CPU")
    parser.add_argument("--models", nargs="*", default=["dual", "residual"], choices=["dual", "residual"])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.tiny:
        args.steps, args.warmup = 1, 1
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU machine, or check the script with --device cpu --tiny")
    transformers.utils.logging.set_verbosity_error()
    command = " ".join(["python", os.path.relpath(os.path.abspath(sys.argv[0]), REPO_ROOT), *sys.argv[1:]])
    setups = {"dual": dual_setup, "residual": residual_setup}
    rows = [measure(name, setups[name], args, args.device) for name in args.models]
    meta = {"command": command, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
            "torch": torch.__version__, "transformers": transformers.__version__, "tiny": args.tiny}
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "gpu_design_sizes_tiny" if args.tiny else "gpu_design_sizes")
    with open(stem + ".json", "w") as handle:
        json.dump({"meta": meta, "results": rows}, handle, indent=2)
    lines = ["# Training at the design sizes on a GPU", "", f"- command: `{meta['command']}`; date {meta['date']}",
             f"- device: {meta['device']}; torch {meta['torch']}, transformers {meta['transformers']}", "",
             "| model | parameters | batch | precision | samples/s | step (s) | achieved TFLOP/s | peak GPU memory (GB) |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for row in rows:
        memory = f"{row['peak_gpu_memory_gb']:.1f}" if row["peak_gpu_memory_gb"] is not None else "n/a"
        lines.append(f"| {row['model']} | {row['parameters']:,} | {row['batch_size']} | {row['precision']} | "
                     f"{row['samples_per_s']:.1f} | {row['step_s']:.3f} | {row['achieved_tflops']:.2f} | {memory} |")
    with open(stem + ".md", "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print(f"wrote {stem}.{{md,json}}")


if __name__ == "__main__":
    main()
