"""Train the recommended price model: a PriceEnsemble of a residual network on the text and the tabular
features of each item (quantities, units, sentence embeddings, category, brand), a linear TF-IDF model and
LightGBM, stacked on out-of-fold predictions of the training split, then evaluated once on the test split.
Writes the model and its processor (`from_pretrained` and `pipeline("price-regression")` load them),
test_results.json and a model card.

    python recipes/train_price.py --dataset items.jsonl --output_dir outputs/price
    python recipes/train_price.py --dataset items.jsonl --output_dir outputs/price --hpo_trials 10
    python recipes/train_price.py --dataset you/items --push_to_hub true --hub_model_id you/price-ensemble

Every choice is made on the training split: the members' out-of-fold predictions (--folds) fit the stacker and
the interval, and --hpo_trials searches the network on a validation part of it. The test split (--test_size,
--split_seed) is predicted once, at the end; test_results.json holds the ensemble's and each member's metrics,
the interval's coverage and the training time. Needs the `recipes` extra (offline MiniLM, LightGBM).
"""

import json
import logging
import os
import time
from dataclasses import dataclass, field

import recipe_cli  # noqa: F401 -- answers --help before torch is imported

from hf_pricer.cli import PRICE_FIELDS_FROM_DATA, ConfigFlags, parse_recipe_args, setup_recipe

CPU_PRESET = os.path.join(os.path.dirname(__file__), "configs", "price_cpu.yaml")
logger = logging.getLogger("train_price")

ModelArguments = ConfigFlags(
    "hf_pricer.models.residual_regressor.configuration_residual_regressor:ResidualRegressorConfig",
    exclude=PRICE_FIELDS_FROM_DATA,
)


@dataclass
class DataArguments:
    dataset: str = field(
        default="catalog", metadata={"help": "'catalog', a local items file or a Hub dataset id."}
    )
    test_size: float = field(
        default=0.2, metadata={"help": "A single local file: share held out as the test split."}
    )
    split_seed: int = field(
        default=42, metadata={"help": "Seed of the test split and of the cross-fitting folds."}
    )
    catalog_size: int = field(default=2000, metadata={"help": "Items of the embedded catalog."})


@dataclass
class EnsembleArguments:
    numeric_features: list[str] = field(
        default_factory=lambda: ["quantities", "text_embedding", "title_embedding"],
        metadata={
            "help": "Numeric feature sources: quantities, text_embedding, title_embedding, item fields."
        },
    )
    categorical_features: list[str] = field(
        default_factory=lambda: ["category", "brand"],
        metadata={"help": "Item fields (or brand) read as categories."},
    )
    embedding_model: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={"help": "Text model of the embedding features."},
    )
    members: list[str] = field(
        default_factory=lambda: ["residual", "linear", "boosting"], metadata={"help": "Members to fit."}
    )
    folds: int = field(default=5, metadata={"help": "Folds of the cross-fitting."})
    nested: bool = field(
        default=True, metadata={"help": "Nested cross-fitting of members that read members."}
    )
    select_members: bool = field(default=True, metadata={"help": "Forward selection of the stacked members."})
    boosting_rounds: int = field(default=600, metadata={"help": "LightGBM boosting rounds."})
    boosting_reads_residual: bool = field(
        default=True,
        metadata={"help": "LightGBM reads the network's embeddings and the members' predictions."},
    )
    coverage: float = field(default=0.8, metadata={"help": "Coverage of the prediction interval."})
    hpo_trials: int = field(default=0, metadata={"help": "Optuna trials for the network (0: none)."})
    hpo_validation_size: float = field(
        default=0.2, metadata={"help": "Share of train that validates HPO trials."}
    )
    num_threads: int | None = field(default=None, metadata={"help": "Threads of torch and LightGBM."})


ARGUMENT_TYPES = (
    ModelArguments,
    DataArguments,
    EnsembleArguments,
    "hf_pricer.trainer:PricerTrainingArguments",
)


def split_items(data_args):
    """`(train, test)`: a single file split by `test_size`; a source with a validation split trains on it too
    (the ensemble validates by cross-fitting)."""
    from datasets import concatenate_datasets

    from hf_pricer.data import load_items

    items = load_items(
        data_args.dataset,
        test_size=data_args.test_size,
        catalog_size=data_args.catalog_size,
        seed=data_args.split_seed,
    )
    if "test" not in items:
        raise ValueError(f"{data_args.dataset!r} has no test split; pass a single file or a dataset with one")
    train = items["train"]
    if "validation" in items:
        train = concatenate_datasets([train, items["validation"]])
    return train, items["test"]


def build_members(model_args, ensemble_args, training_args, data):
    """The member trainers `--members` names, in stacking order (LightGBM last: it reads the others)."""
    import hf_pricer
    from hf_pricer.ensemble import GradientBoostingTrainer, LinearTrainer, PriceModelTrainer
    from hf_pricer.hpo import search_price_model

    members = []
    if "residual" in ensemble_args.members:
        processor = hf_pricer.ResidualRegressorProcessor(
            n_features=model_args.num_features or 5000, tabular_features=data.tabular
        )
        config = hf_pricer.ResidualRegressorConfig(
            **model_args.config_kwargs(), **data.tabular.config_kwargs()
        )
        if ensemble_args.hpo_trials:
            config, training_args = search_price_model(
                hf_pricer.ResidualRegressorForPriceRegression,
                config,
                processor,
                hf_pricer.ResidualRegressorCollator,
                training_args,
                data.items,
                ensemble_args.hpo_trials,
                training_args.output_dir,
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
        read = [member.name for member in members] if ensemble_args.boosting_reads_residual else []
        members.append(
            GradientBoostingTrainer(
                "boosting",
                data,
                embeddings_of=[name for name in read if name == "residual"],
                predictions_of=read,
                num_rounds=ensemble_args.boosting_rounds,
                num_threads=ensemble_args.num_threads,
                seed=training_args.seed,
            )
        )
    unknown = set(ensemble_args.members) - {"residual", "linear", "boosting"}
    if unknown or not members:
        raise ValueError(f"--members takes residual, linear and boosting, got {ensemble_args.members}")
    return members


def main(args=None):
    model_args, data_args, ensemble_args, training_args = parse_recipe_args(
        ARGUMENT_TYPES, CPU_PRESET, args, __doc__
    )
    setup_recipe(training_args)
    import torch

    from hf_pricer.ensemble import EnsembleData, evaluate_price_ensemble, fit_price_ensemble
    from hf_pricer.feature_extraction_utils import TabularFeatures
    from hf_pricer.hub import build_ensemble_card, push_model_to_hub

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
    members = build_members(model_args, ensemble_args, training_args, data)
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
    repo_id = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
    card = build_ensemble_card(model, results, repo_id=repo_id, dataset_id=data_args.dataset)
    card.save(os.path.join(training_args.output_dir, "README.md"))
    logger.info(
        "test SMAPE %.2f, MAE %.2f, hit rate %.1f %% (members: %s); trained in %.0f s",
        results["test_smape"],
        results["test_mae"],
        results["test_hit_rate"],
        {name: round(figures["test_smape"], 2) for name, figures in results["members"].items()},
        train_seconds,
    )
    if training_args.push_to_hub:
        push_model_to_hub(model, repo_id, processor=processor, card=card, token=training_args.hub_token)
    return model, processor, results


if __name__ == "__main__":
    main()
