"""Stage 2 of the dual-embedding regressor (seed 003): image → visual features + company and model embeddings
(the two stage-1 classifiers of `train_classifier.py`) → attention → N numeric targets.

    accelerate launch recipes/train_dual_embedding.py \\
        --company_classifier outputs/company-classifier --model_classifier outputs/model-classifier
    accelerate launch recipes/train_dual_embedding.py ... --hpo_trials 20          # the seed's HPO (optuna)
    python recipes/train_dual_embedding.py recipes/configs/dual_embedding_seed.yaml

Progressive unfreezing follows `--unfreeze_epochs E1 E2` (seed: 20 40) and the embedding models train at
`--lr_multiplier` × the learning rate (seed: 0.1), with a cosine schedule and warmup. `--hpo_trials N` runs
`Trainer.hyperparameter_search` instead (embedding dim, attention type, unfreeze schedule, LR multiplier, LR;
mean MAE minimised) and writes `hpo_results.csv` / `.md` to `--output_dir`.
"""

import logging
import os
from dataclasses import dataclass, field

import numpy as np

import hf_pricer
from hf_pricer.cli import parse_recipe_args, setup_recipe
from hf_pricer.models.dual_embedding import (
    DualEmbeddingCollator,
    DualEmbeddingSearchSpace,
    RecordsDataArguments,
    dual_embedding_model_init,
    encoder_learning_rates,
    regression_metrics,
    save_json,
    search_hyperparameters,
    target_statistics,
)

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "dual_embedding_cpu.yaml")
logger = logging.getLogger("train_dual_embedding")


@dataclass
class ModelArguments:
    company_classifier: str = field(default="outputs/company-classifier", metadata={"help": "Stage-1 checkpoint."})
    model_classifier: str = field(default="outputs/model-classifier", metadata={"help": "Stage-1 checkpoint."})
    attention_type: str = field(default="triple", metadata={"help": "dual | triple | hierarchical"})
    embedding_dim: int = 256
    attention_hidden_size: int = 128
    head_hidden_size: int = 256
    dropout: float = 0.1
    loss_type: str = field(default="mse", metadata={"help": "mse | l1 | huber, on standardized targets"})
    standardize_targets: bool = True


@dataclass
class StrategyArguments:
    unfreeze_epochs: list[float] = field(default_factory=lambda: [20, 40], metadata={"help": "E1 E2 (seed: 20 40)"})
    unfreeze_fraction: float = field(default=0.5, metadata={"help": "Top share of ViT layers unfrozen at E1."})
    lr_multiplier: float = field(default=0.1, metadata={"help": "Embedding models' LR / learning_rate."})
    hpo_trials: int = field(default=0, metadata={"help": "> 0: hyperparameter search with this many trials."})
    hpo_embedding_dims: list[int] = field(default_factory=lambda: [128, 256, 512])
    hpo_attention_types: list[str] = field(default_factory=lambda: ["dual", "triple", "hierarchical"])
    hpo_unfreeze_schedules: list[str] = field(
        default_factory=lambda: ["20,40", "10,30", "5,20"], metadata={"help": "'E1,E2' choices."}
    )
    hpo_lr_multipliers: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2])
    hpo_learning_rate: list[float] = field(default_factory=lambda: [1e-5, 1e-3], metadata={"help": "log range"})


ARGUMENT_TYPES = (ModelArguments, RecordsDataArguments, StrategyArguments, hf_pricer.PricerTrainingArguments)


def search_space(strategy) -> DualEmbeddingSearchSpace:
    return DualEmbeddingSearchSpace(
        embedding_dims=strategy.hpo_embedding_dims,
        attention_types=strategy.hpo_attention_types,
        unfreeze_schedules=[[float(value) for value in pair.split(",")] for pair in strategy.hpo_unfreeze_schedules],
        lr_multipliers=strategy.hpo_lr_multipliers,
        learning_rate=tuple(strategy.hpo_learning_rate),
    )


def main(args=None):
    model_args, data_args, strategy, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args)
    for path in (model_args.company_classifier, model_args.model_classifier):
        if os.path.sep in path and not os.path.isdir(path):
            raise FileNotFoundError(f"stage-1 checkpoint {path!r} not found: train it with recipes/train_classifier.py")
    company = hf_pricer.EmbeddingClassifierForImageClassification.from_pretrained(model_args.company_classifier)
    model_type = hf_pricer.EmbeddingClassifierForImageClassification.from_pretrained(model_args.model_classifier)
    image_size = company.config.vision_config.image_size
    train, val = data_args.load(image_size, training_args.seed)
    mean, std = target_statistics(train, data_args.target_names) if model_args.standardize_targets else (None, None)
    config_kwargs = dict(
        target_names=data_args.target_names, target_mean=mean, target_std=std,
        attention_type=model_args.attention_type, embedding_dim=model_args.embedding_dim,
        attention_hidden_size=model_args.attention_hidden_size, head_hidden_size=model_args.head_hidden_size,
        dropout=model_args.dropout, loss_type=model_args.loss_type, unfreeze_epochs=strategy.unfreeze_epochs,
        unfreeze_fraction=strategy.unfreeze_fraction,
    )
    space = search_space(strategy)
    model_init = dual_embedding_model_init(company, model_type, space, strategy.lr_multiplier, **config_kwargs)
    training_args.module_learning_rates = encoder_learning_rates(training_args.learning_rate, strategy.lr_multiplier)
    processor = hf_pricer.models.dual_embedding.vit_image_processor(image_size)

    trainer = hf_pricer.PricerTrainer(
        model_init=model_init,
        args=training_args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=DualEmbeddingCollator(processor, data_args.target_names),
        processing_class=processor,
        compute_metrics=regression_metrics(data_args.target_names),
        callbacks=[hf_pricer.FreezeWarmupCallback()],  # the schedule of each model's config
    )
    model_init.bind(trainer)
    if strategy.hpo_trials > 0:
        if val is None:
            raise ValueError("the hyperparameter search minimises the validation mean MAE: pass --val_json")
        best_run, _ = search_hyperparameters(trainer, strategy.hpo_trials, training_args.output_dir, space)
        logger.info("best trial %s: mean MAE %.4g with %s", best_run.run_id, best_run.objective,
                    best_run.hyperparameters)
        return trainer

    trainer.train()
    trainer.save_model()
    output = trainer.finish(val, data_args.train_json or "catalog")
    if output is not None and trainer.is_world_process_zero():
        weights = output.predictions[1]
        save_json(
            {"metrics": output.metrics, "mean_attention_weights": np.mean(weights, axis=0),
             "target_names": data_args.target_names, "attention_type": model_args.attention_type},
            os.path.join(training_args.output_dir, "results.json"),
        )
    return trainer


if __name__ == "__main__":
    main()
