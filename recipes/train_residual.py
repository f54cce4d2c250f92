"""Train the residual price regressor: hashed bag-of-words → deep residual MLP → price.

    accelerate launch recipes/train_residual.py                        # small CPU preset, embedded catalog
    python recipes/train_residual.py recipes/configs/residual_design.yaml  # design size on ed-donner/items_full
    python recipes/train_residual.py --dataset items.jsonl --num_train_epochs 3 --output_dir out

Flags override the values of a config file; see `--help` for every argument.
"""

import logging
import os
from dataclasses import dataclass, field

import hf_pricer
from hf_pricer.cli import config_arguments, parse_recipe_args, setup_recipe
from hf_pricer.data import item_splits, load_items, log_price_statistics

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "residual_cpu.yaml")
logger = logging.getLogger("train_residual")

ModelArguments = config_arguments(hf_pricer.ResidualRegressorConfig, exclude=("log_price_mean", "log_price_std"))


@dataclass
class RunArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Start from this checkpoint instead of scratch."})
    sparse_input: bool = field(default=False, metadata={"help": "Feed hashed feature indices instead of dense vectors."})


@dataclass
class DataArguments:
    dataset: str = field(default="catalog", metadata={"help": "'catalog', a local items file or a Hub dataset id."})
    streaming: bool = False
    text_fields: list[str] = field(default_factory=lambda: ["title", "text"])
    catalog_size: int = 2000
    test_size: float = 0.2
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


ARGUMENT_TYPES = (ModelArguments, RunArguments, DataArguments, hf_pricer.PricerTrainingArguments)


def main(args=None):
    model_args, run_args, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args, streaming=data_args.streaming)

    items = load_items(data_args.dataset, streaming=data_args.streaming, test_size=data_args.test_size,
                       catalog_size=data_args.catalog_size, seed=training_args.seed)
    train_items, eval_items = item_splits(items, max_train_samples=data_args.max_train_samples,
                                          max_eval_samples=data_args.max_eval_samples)

    if run_args.model_name_or_path:
        model = hf_pricer.ResidualRegressorForPriceRegression.from_pretrained(run_args.model_name_or_path)
    else:
        mean, std = log_price_statistics(train_items)
        config = hf_pricer.ResidualRegressorConfig(**model_args.config_kwargs(), log_price_mean=mean, log_price_std=std)
        model = hf_pricer.ResidualRegressorForPriceRegression(config)
    processor = hf_pricer.ResidualRegressorProcessor(n_features=model.config.num_features,
                                                     text_fields=data_args.text_fields)
    logger.info("%s with %s parameters", type(model).__name__, f"{model.num_parameters():,}")

    trainer = hf_pricer.PricerTrainer(
        model=model,
        args=training_args,
        train_dataset=train_items,
        eval_dataset=eval_items,
        data_collator=hf_pricer.ResidualRegressorCollator(processor, sparse=run_args.sparse_input),
        processing_class=processor,
        compute_metrics=hf_pricer.compute_metrics,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(eval_items, data_args.dataset)
    return trainer


if __name__ == "__main__":
    main()
