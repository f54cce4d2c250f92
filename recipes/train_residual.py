"""Train the residual price regressor: a product's title and description, hashed into a bag of words, go through a
deep residual MLP to a price. Without arguments it trains a small CPU preset on the embedded synthetic catalog
(about a minute on 2 cores) and writes the model, its processor, a model card and a plot to
outputs/residual-catalog/.

    accelerate launch recipes/train_residual.py
    python recipes/train_residual.py --dataset items.jsonl --num_train_epochs 3 --output_dir outputs/my-items
    python recipes/train_residual.py recipes/configs/residual_design.yaml

Splits: the catalog is split 80/10/10 into train, validation and test; a single local file first loses
--test_size to the test split, then --validation_size of the rest to the validation split; a Hub dataset keeps its
own splits. The validation split chooses the checkpoint; the test split is evaluated once, at the end.
"""

import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import (
    PRICE_FIELDS_FROM_DATA,
    ConfigFlags,
    ItemsDataArguments,
    parse_recipe_args,
    setup_recipe,
)

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "residual_cpu.yaml")
logger = logging.getLogger("train_residual")

ModelArguments = ConfigFlags(
    "hf_pricer.models.residual_regressor.configuration_residual_regressor:ResidualRegressorConfig",
    exclude=PRICE_FIELDS_FROM_DATA,
)


@dataclass
class RunArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "Start from this checkpoint instead of scratch."})
    sparse_input: bool = field(default=False, metadata={"help": "Feed hashed feature indices instead of dense vectors."})


ARGUMENT_TYPES = (ModelArguments, RunArguments, ItemsDataArguments, "hf_pricer.trainer:PricerTrainingArguments")


def main(args=None):
    model_args, run_args, data_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args, __doc__)
    setup_recipe(training_args, streaming=data_args.streaming)
    import hf_pricer
    from hf_pricer.data import log_price_statistics

    train_items, validation_items, test_items = data_args.load(training_args.seed)

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
        eval_dataset=validation_items,
        data_collator=hf_pricer.ResidualRegressorCollator(processor, sparse=run_args.sparse_input),
        processing_class=processor,
        compute_metrics=hf_pricer.compute_metrics,
    )
    trainer.train()
    trainer.save_model()
    trainer.finish(validation_items, data_args.dataset, test_dataset=test_items)
    return trainer


if __name__ == "__main__":
    main()
