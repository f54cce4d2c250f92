"""Train the recommended price model: a `PriceEnsemble` of a residual network on text and tabular features, a
linear TF-IDF model and LightGBM, stacked on out-of-fold predictions, then evaluated once on the test split.

    python recipes/train_price.py --dataset items.jsonl --output_dir outputs/price      # CPU preset
    python recipes/train_price.py --dataset items.jsonl --output_dir out --hpo_trials 10
    python recipes/train_price.py --dataset you/items --push_to_hub true --hub_model_id you/price-ensemble

Everything is chosen on the training split (k-fold cross-fitting, and with `--hpo_trials` a search on a
validation part of it); the test split (`--test_size`, `--split_seed`) is predicted once at the end. Writes
the model and processor (`from_pretrained` loads them), `test_results.json` (the ensemble's and every member's
test metrics, the interval coverage, the training time, and what cross-fitting measured on the training split)
and a model card. Needs LightGBM (`pip install "hf_pricer[boosting]"`) and, for the default text encoder, the
`encoders` extra.
"""
import json
import logging
import os
import time
from dataclasses import dataclass, field

import torch

import hf_pricer
from hf_pricer.cli import config_arguments, parse_recipe_args, setup_recipe
from hf_pricer.data import load_items
from hf_pricer.ensemble import (
    EnsembleData,
    GradientBoostingTrainer,
    LinearTrainer,
    PriceModelTrainer,
    evaluate_price_ensemble,
    fit_price_ensemble,
)
from hf_pricer.feature_extraction_utils import DEFAULT_EMBEDDING_MODEL, TabularFeatures
from hf_pricer.hpo import search_price_model

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "price_cpu.yaml")
logger = logging.getLogger("train_price")

TABULAR_FIELDS = ("numeric_feature_names", "categorical_feature_names", "categorical_cardinalities")
ModelArguments = config_arguments(
    hf_pricer.ResidualRegressorConfig,
    exclude=("log_price_mean", "log_price_std", "interval_margin", *TABULAR_FIELDS),
)


@dataclass
class DataArguments:
    dataset: str = field(
        default="catalog", metadata={"help": "'catalog', a local items file or a Hub dataset id."}
    )
    test_size: float = field(
        default=0.2, metadata={"help": "Share of a single file held out for the test split."}
    )
    split_seed: int = field(
        default=42, metadata={"help": "Seed of the test split and of the cross-fitting folds."}
    )
    catalog_size: int = 2000


@dataclass
class EnsembleArguments:
    numeric_features: list[str] = field(
        default_factory=lambda: ["quantities", "text_embedding", "title_embedding"],
        metadata={
            "help": "Numeric feature sources: quantities, text_embedding, title_embedding or item fields."
        },
    )
    categorical_features: list[str] = field(default_factory=lambda: ["category", "brand"])
    embedding_model: str = field(
        default=DEFAULT_EMBEDDING_MODEL, metadata={"help": "Text model of the embeddings."}
    )
    members: list[str] = field(
        default_factory=lambda: ["residual", "linear", "boosting"],
        metadata={"help": "Members to fit: residual, linear, boosting."},
    )
    folds: int = field(default=5, metadata={"help": "Folds of the cross-fitting."})
    nested: bool = field(
        default=True, metadata={"help": "Nested cross-fitting of members that read members."}
    )
    select_members: bool = field(default=True, metadata={"help": "Forward selection of the stacked members."})
    boosting_rounds: int = 600
    boosting_reads_residual: bool = field(
        default=True, metadata={"help": "LightGBM reads the residual network's embeddings and prediction."}
    )
    coverage: float = field(default=0.8, metadata={"help": "Coverage of the prediction interval."})
    hpo_trials: int = field(default=0, metadata={"help": "Optuna trials for the residual network (0: none)."})
    hpo_validation_size: float = 0.2
    num_threads: int | None = field(default=None, metadata={"help": "Threads of torch and LightGBM."})


ARGUMENT_TYPES = (ModelArguments, DataArguments, EnsembleArguments, hf_pricer.PricerTrainingArguments)


def split_items(data_args):
    items = load_items(
        data_args.dataset,
        test_size=data_args.test_size,
        catalog_size=data_args.catalog_size,
        seed=data_args.split_seed,
    )
    if "test" not in items:
        raise ValueError(f"{data_args.dataset!r} has no test split; pass a single file or a dataset with one")
    # The catalog's validation split is training data here: the ensemble validates by cross-fitting.
    train = items["train"]
    if "validation" in items:
        from datasets import concatenate_datasets

        train = concatenate_datasets([train, items["validation"]])
    return train, items["test"]


def build_members(model_args, ensemble_args, training_args, data, output_dir):
    members = []
    tabular = data.tabular
    if "residual" in ensemble_args.members:
        processor = hf_pricer.ResidualRegressorProcessor(
            n_features=model_args.num_features or 5000, tabular_features=tabular
        )
        config = hf_pricer.ResidualRegressorConfig(**model_args.config_kwargs(), **tabular.config_kwargs())
        if ensemble_args.hpo_trials:  # on a validation part of the training split
            config, training_args = search_price_model(
                hf_pricer.ResidualRegressorForPriceRegression,
                config,
                processor,
                hf_pricer.ResidualRegressorCollator,
                training_args,
                data.items,
                ensemble_args.hpo_trials,
                output_dir,
                ensemble_args.hpo_validation_size,
            )
        members.append(
            PriceModelTrainer(
                "residual",
                data,
                hf_pricer.ResidualRegressorForPriceRegression,
                config,
                processor,
                hf_pricer.ResidualRegressorCollator,
                training_args,
            )
        )
    if "linear" in ensemble_args.members:
        members.append(LinearTrainer("linear", data))
    if "boosting" in ensemble_args.members:
        reads = [m.name for m in members] if ensemble_args.boosting_reads_residual else []
        members.append(
            GradientBoostingTrainer(
                "boosting",
                data,
                embeddings_of=[n for n in reads if n == "residual"],
                predictions_of=reads,
                num_rounds=ensemble_args.boosting_rounds,
                num_threads=ensemble_args.num_threads,
                seed=training_args.seed,
            )
        )
    if not members:
        raise ValueError(f"--members names no known member: {ensemble_args.members}")
    return members


def main(args=None):
    model_args, data_args, ensemble_args, training_args = parse_recipe_args(ARGUMENT_TYPES, CPU_PRESET, args)
    setup_recipe(training_args)
    if ensemble_args.num_threads:
        torch.set_num_threads(ensemble_args.num_threads)
    start = time.perf_counter()
    train_items, test_items = split_items(data_args)
    logger.info("%d training items, %d test items", len(train_items), len(test_items))

    tabular = TabularFeatures(
        ensemble_args.numeric_features,
        ensemble_args.categorical_features,
        embedding_model=ensemble_args.embedding_model,
    )
    data = EnsembleData.prepare(train_items, tabular)
    members = build_members(model_args, ensemble_args, training_args, data, training_args.output_dir)
    model, processor, report = fit_price_ensemble(
        members,
        data,
        num_folds=ensemble_args.folds,
        seed=data_args.split_seed,
        nested=ensemble_args.nested,
        select_members=ensemble_args.select_members,
        coverage=ensemble_args.coverage,
    )
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    results = evaluate_price_ensemble(model, processor, test_items)
    results.update(
        {
            "train_seconds": train_seconds,
            "test_seconds": time.perf_counter() - start,
            "num_train_items": len(train_items),
            "num_test_items": len(test_items),
            "num_threads": torch.get_num_threads(),
            "cross_validation": report.to_dict(),
        }
    )
    os.makedirs(training_args.output_dir, exist_ok=True)
    model.save_pretrained(training_args.output_dir)
    processor.save_pretrained(training_args.output_dir)
    with open(os.path.join(training_args.output_dir, "test_results.json"), "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, default=float)
    card = hf_pricer.hub.build_ensemble_card(
        model,
        results,
        repo_id=training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir)),
        dataset_id=data_args.dataset if not os.path.exists(data_args.dataset) else None,
    )
    card.save(os.path.join(training_args.output_dir, "README.md"))
    logger.info(
        "test SMAPE %.2f, MAE %.2f, hit rate %.1f %% (members: %s); trained in %.0f s",
        results["test_smape"],
        results["test_mae"],
        results["test_hit_rate"],
        {name: round(m["test_smape"], 2) for name, m in results["members"].items()},
        train_seconds,
    )
    if training_args.push_to_hub:
        hf_pricer.hub.push_model_to_hub(
            model,
            training_args.hub_model_id,
            processor=processor,
            metrics=results,
            card=card,
            token=training_args.hub_token,
        )
    return model, processor, results


if __name__ == "__main__":
    main()
