"""One PricerTrainer step on a fixed set of 16 items; run it under torchrun to check multi-process training.

    torchrun --nproc_per_node 2 tests/ddp_one_step.py OUT.safetensors PER_DEVICE_BATCH ACCUMULATION

Rank 0 writes the parameters after the step and prints the world size.
"""

import sys

import torch
from datasets import Dataset
from safetensors.torch import save_file

from hf_pricer import (
    PricerTrainer,
    PricerTrainingArguments,
    ResidualRegressorCollator,
    ResidualRegressorConfig,
    ResidualRegressorForPriceRegression,
    ResidualRegressorProcessor,
)

WORDS = "steel oak plastic premium budget kettle frame drill battery bottle jar gold".split()


def main(output_file: str, batch_size: int, accumulation: int, output_dir: str = "ddp_out"):
    items = Dataset.from_list(
        [{"title": WORDS[i % 12], "text": f"{WORDS[(3 * i) % 12]} {WORDS[(5 * i + 1) % 12]}", "price": 4.0 + 9 * i}
         for i in range(16)]
    )
    torch.manual_seed(0)
    config = ResidualRegressorConfig(num_features=64, num_layers=3, hidden_size=16, dropout=0.0, log_price_mean=3.0)
    args = PricerTrainingArguments(
        output_dir=output_dir, use_cpu=True, report_to="none", save_strategy="no", max_steps=1,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=accumulation, optim="sgd",
        learning_rate=0.5, lr_scheduler_type="constant", max_grad_norm=0.0, weight_decay=0.0, disable_tqdm=True,
        bf16=False,  # compared with the one-process step in fp32, exactly
    )
    trainer = PricerTrainer(
        model=ResidualRegressorForPriceRegression(config),
        args=args,
        train_dataset=items,
        data_collator=ResidualRegressorCollator(ResidualRegressorProcessor(n_features=64)),
    )
    trainer.train()
    if trainer.is_world_process_zero():
        print(f"WORLD_SIZE={args.world_size}")
        save_file({name: p.detach().contiguous() for name, p in trainer.model.named_parameters()}, output_file)
    trainer.accelerator.end_training()  # tear the process group down before the interpreter exits


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "ddp_out")
