"""Train the dual-embedding regressor (stage 2): an image's visual features and its company and model embeddings
(the two embedding classifiers of train_classifier.py, run first) are fused by attention into N numeric targets.
Without arguments it trains the CPU preset on the embedded catalog's records.

    accelerate launch recipes/train_dual_embedding.py \\
        --company_classifier outputs/company-classifier --model_classifier outputs/model-classifier
    accelerate launch recipes/train_dual_embedding.py --hpo_trials 20
    python recipes/train_dual_embedding.py recipes/configs/dual_embedding_design.yaml

Progressive unfreezing follows --unfreeze_epochs E1 E2 and the embedding models train at --lr_multiplier × the
learning rate. --hpo_trials N runs Trainer.hyperparameter_search (optuna; mean validation MAE minimised) and writes
hpo_results.csv / .md instead. Splits: as train_classifier.py (validation records choose the checkpoint; the test
split, --test_json or --test_size of the training records, is evaluated once at the end).
"""

import logging
import os
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import ConfigFlags, RecordsDataArguments, parse_recipe_args, setup_recipe

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "dual_embedding_cpu.yaml")
logger = logging.getLogger("train_dual_embedding")

ModelArguments = ConfigFlags(
    "hf_pricer.models.dual_embedding.configuration_dual_embedding:DualEmbeddingConfig",
    exclude=("target_names", "target_mean", "target_std"),
)


@dataclass
class StageArguments:
    company_classifier: str = field(default="outputs/company-classifier", metadata={"help": "Stage-1 checkpoint."})
    model_classifier: str = field(default="outputs/model-classifier", metadata={"help": "Stage-1 checkpoint."})
    standardize_targets: bool = True


@dataclass
class StrategyArguments:
    lr_multiplier: float = field(default=0.1, metadata={"help": "Embedding models' LR / learning_rate."})
    hpo_trials: int = field(default=0, metadata={"help": "> 0: hyperparameter search with this many trials."})
    hpo_embedding_dims: list[int] = field(default_factory=lambda: [128, 256, 512])
    hpo_attention_types: list[str] = field(default_factory=lambda: ["dual", "triple", "hierarchical"])
    hpo_unfreeze_schedules: list[str] = field(
        default_factory=lambda: ["20,40", "10,30", "5,20"], metadata={"help": "'E1,E2' choices."}
    )
    hpo_lr_multipliers: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2])
    hpo_learning_rate: list[float] = field(default_factory=lambda: [1e-5, 1e-3], metadata={"help": "log range"})


ARGUMENT_TYPES = (ModelArguments, StageArguments, RecordsDataArguments, StrategyArguments,
                  "hf_pricer.trainer:PricerTrainingArguments")


def search_space(strategy):
    from hf_pricer.hpo import DualEmbeddingSearchSpace

    return DualEmbeddingSearchSpace(
        embedding_dims=strategy.hpo_embedding_dims,
        attention_types=strategy.hpo_attention_types,
        unfreeze_schedules=[[float(value) for value in pair.split(",")] for pair in strategy.hpo_unfreeze_schedules],
        lr_multipliers=strategy.hpo_lr_multipliers,
        learning_rate=tuple(strategy.hpo_learning_rate),
    )


def main(args=None):
    model_args, stages, data_args, strategy, training_args = parse_recipe_args(
        ARGUMENT_TYPES, CPU_PRESET, args, __doc__
    )
    setup_recipe(training_args)
    import numpy as np

    import hf_pricer
    from hf_pricer.data.records import save_json, target_statistics
    from hf_pricer.hpo import dual_embedding_model_init, search_hyperparameters
    from hf_pricer.image_processing_utils import vit_image_processor
    from hf_pricer.metrics import regression_metrics

    for path in (stages.company_classifier, stages.model_classifier):
        if os.path.sep in path and not os.path.isdir(path):
            raise FileNotFoundError(f"stage-1 checkpoint {path!r} not found: train it with recipes/train_classifier.py")
    company = hf_pricer.EmbeddingClassifierForImageClassification.from_pretrained(stages.company_classifier)
    model_type = hf_pricer.EmbeddingClassifierForImageClassification.from_pretrained(stages.model_classifier)
    image_size = company.config.vision_config.image_size
    train, val, test = data_args.load(image_size, training_args.seed)
    mean, std = target_statistics(train, data_args.target_names) if stages.standardize_targets else (None, None)
    config_kwargs = dict(
        target_names=data_args.target_names, target_mean=mean, target_std=std, **model_args.config_kwargs()
    )
    space = search_space(strategy)
    model_init = dual_embedding_model_init(company, model_type, space, strategy.lr_multiplier, **config_kwargs)
    training_args.module_learning_rates = hf_pricer.DualEmbeddingForRegression.encoder_learning_rates(
        training_args.learning_rate, strategy.lr_multiplier
    )
    processor = vit_image_processor(image_size)

    trainer = hf_pricer.PricerTrainer(
        model_init=model_init,
        args=training_args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=hf_pricer.DualEmbeddingCollator(processor, data_args.target_names),
        processing_class=processor,
        compute_metrics=regression_metrics(data_args.target_names),
        callbacks=[hf_pricer.FreezeWarmupCallback()],  # the schedule of each model's config
    )
    model_init.bind(trainer)
    if strategy.hpo_trials > 0:
        if val is None:
            raise ValueError("the hyperparameter search minimises the validation mean MAE: pass --val_json")
        best_run, _ = search_hyperparameters(
            trainer, strategy.hpo_trials, training_args.output_dir, space, objective="mean_mae"
        )
        logger.info("best trial %s: mean MAE %.4g with %s", best_run.run_id, best_run.objective,
                    best_run.hyperparameters)
        return trainer

    trainer.train()
    trainer.save_model()
    output = trainer.finish(val, data_args.train_json or "catalog", test_dataset=test).validation
    if output is not None and trainer.is_world_process_zero():
        weights = output.predictions[1]
        save_json(
            {"metrics": output.metrics, "mean_attention_weights": np.mean(weights, axis=0),
             "target_names": data_args.target_names, "attention_type": trainer.model.config.attention_type},
            os.path.join(training_args.output_dir, "results.json"),
        )
    return trainer


if __name__ == "__main__":
    main()
