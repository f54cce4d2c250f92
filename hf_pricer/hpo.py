"""Hyperparameter search for any hf_pricer model, with `Trainer.hyperparameter_search`, and its results table.

A :class:`SearchSpace` suggests every hyperparameter of a trial. Those of `TrainingArguments` (the learning
rate, ...) are what `optuna_hp_space` returns, and the Trainer sets them on its arguments; those of the model
config (`model_keys`) reach the model through `model_init(trial)`, which reads them with
:meth:`SearchSpace.config_kwargs` and builds each trial's model. :func:`search_hyperparameters` runs the search
and writes every trial, best first, to `hpo_results.csv` and `hpo_results.md`.

:class:`DualEmbeddingSearchSpace` and :func:`dual_embedding_model_init` are the dual-embedding regressor's:
embedding size, attention type, unfreezing schedule (followed by `FreezeWarmupCallback()`, which asks
`model.freeze_schedule()` when training starts), the embedding models' learning-rate multiplier and the
learning rate. :class:`PriceModelSearchSpace` and :func:`price_model_init` are any price model's: learning
rate, weight decay, epochs and the model-config fields it names (the residual regressor's width, depth and
dropout by default).
"""

from __future__ import annotations

import copy
import csv
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hf_pricer.data.records import save_json, to_serializable

logger = logging.getLogger(__name__)

RESULTS_NAME = "hpo_results"


class SearchSpace:
    """What a hyperparameter search tries. Subclasses suggest every hyperparameter in `optuna_hp_space(trial)`
    (returning the `TrainingArguments` ones) and `ray_hp_space()`, and name the model-config fields among them
    in `model_keys`."""

    model_keys: ClassVar[tuple[str, ...]] = ()

    def optuna_hp_space(self, trial) -> dict[str, Any]:
        raise NotImplementedError

    def ray_hp_space(self, trial=None) -> dict[str, Any]:
        raise NotImplementedError

    def trial_params(self, trial) -> dict[str, Any]:
        """The trial's hyperparameters: those of an optuna `Trial` (suggested here if not yet: `Trainer.train`
        calls `model_init(trial)` before `hp_space(trial)`, and optuna repeats a suggestion within a trial),
        an optuna `FixedTrial`'s, or Ray's dict."""
        if hasattr(trial, "suggest_categorical") and not hasattr(trial, "_params"):  # FixedTrial has `_params`
            self.optuna_hp_space(trial)
        return dict(trial.params if hasattr(trial, "params") else trial)

    def config_value(self, key: str, value: Any) -> Any:
        """A suggested value as the model config takes it (e.g. a categorical string parsed back to a list)."""
        return value

    def config_kwargs(self, trial) -> dict[str, Any]:
        """The model-config fields of a trial."""
        params = self.trial_params(trial)
        return {key: self.config_value(key, params[key]) for key in self.model_keys if key in params}


def _schedule_name(epochs: Sequence[float]) -> str:
    return ",".join(f"{value:g}" for value in epochs)


@dataclass
class DualEmbeddingSearchSpace(SearchSpace):
    """The dual-embedding regressor's search: each field lists the choices (the learning rate is a log-uniform
    range). Unfreeze schedules are `[E1, E2]` pairs (see `DualEmbeddingConfig.unfreeze_epochs`)."""

    embedding_dims: Sequence[int] = (128, 256, 512)
    attention_types: Sequence[str] = ("dual", "triple", "hierarchical")
    unfreeze_schedules: Sequence[Sequence[float]] = ((20, 40), (10, 30), (5, 20))
    lr_multipliers: Sequence[float] = (0.05, 0.1, 0.2)
    learning_rate: tuple[float, float] = (1e-5, 1e-3)
    model_keys: ClassVar[tuple[str, ...]] = ("embedding_dim", "attention_type", "unfreeze_epochs")

    def optuna_hp_space(self, trial) -> dict[str, Any]:
        """`hp_space` for the optuna backend. Suggests every hyperparameter; returns the training arguments."""
        trial.suggest_categorical("embedding_dim", list(self.embedding_dims))
        trial.suggest_categorical("attention_type", list(self.attention_types))
        trial.suggest_categorical("unfreeze_epochs", [_schedule_name(pair) for pair in self.unfreeze_schedules])
        trial.suggest_categorical("lr_multiplier", list(self.lr_multipliers))
        return {"learning_rate": trial.suggest_float("learning_rate", *self.learning_rate, log=True)}

    def ray_hp_space(self, trial=None) -> dict[str, Any]:
        """`hp_space` for the Ray Tune backend (many machines); needs `pip install "ray[tune]"`."""
        from ray import tune

        return {
            "embedding_dim": tune.choice(list(self.embedding_dims)),
            "attention_type": tune.choice(list(self.attention_types)),
            "unfreeze_epochs": tune.choice([_schedule_name(pair) for pair in self.unfreeze_schedules]),
            "lr_multiplier": tune.choice(list(self.lr_multipliers)),
            "learning_rate": tune.loguniform(*self.learning_rate),
        }

    def config_value(self, key: str, value: Any) -> Any:
        if key == "unfreeze_epochs" and isinstance(value, str):
            return [float(epoch) for epoch in value.split(",")]
        return value


@dataclass
class PriceModelSearchSpace(SearchSpace):
    """A price model's search: the learning rate (a log-uniform range), weight decay and epochs of the
    training arguments, and `config_choices`, the choices of each model-config field searched (by default the
    residual regressor's width, depth and dropout)."""

    learning_rate: tuple[float, float] = (2e-4, 3e-3)
    weight_decays: Sequence[float] = (0.0, 0.01, 0.1)
    epochs: Sequence[int] = (10, 20, 30)
    config_choices: Mapping[str, Sequence[Any]] = field(
        default_factory=lambda: {
            "hidden_size": (256, 512, 1024),
            "num_layers": (4, 6, 8),
            "dropout": (0.1, 0.2, 0.3),
        }
    )

    @property
    def model_keys(self) -> tuple[str, ...]:
        return tuple(self.config_choices)

    def optuna_hp_space(self, trial) -> dict[str, Any]:
        """`hp_space` for the optuna backend. Suggests every hyperparameter; returns the training arguments."""
        for key, choices in self.config_choices.items():
            trial.suggest_categorical(key, list(choices))
        return {
            "learning_rate": trial.suggest_float("learning_rate", *self.learning_rate, log=True),
            "weight_decay": trial.suggest_categorical("weight_decay", list(self.weight_decays)),
            "num_train_epochs": trial.suggest_categorical("num_train_epochs", list(self.epochs)),
        }

    def ray_hp_space(self, trial=None) -> dict[str, Any]:
        """`hp_space` for the Ray Tune backend (many machines); needs `pip install "ray[tune]"`."""
        from ray import tune

        return {
            **{key: tune.choice(list(choices)) for key, choices in self.config_choices.items()},
            "learning_rate": tune.loguniform(*self.learning_rate),
            "weight_decay": tune.choice(list(self.weight_decays)),
            "num_train_epochs": tune.choice(list(self.epochs)),
        }


def price_model_init(model_class, config, search_space: SearchSpace | None = None) -> Callable[..., Any]:
    """`model_init` for `PricerTrainer(model_init=...)`: a new `model_class` per trial, from `config` with the
    trial's model-config fields (see [`PriceModelSearchSpace`]) set."""
    space = search_space or PriceModelSearchSpace()

    def model_init(trial=None):
        trial_config = copy.deepcopy(config)
        for key, value in ({} if trial is None else space.config_kwargs(trial)).items():
            setattr(trial_config, key, value)
        trial_config.validate()
        logger.info("model_init: %s", {key: getattr(trial_config, key) for key in space.model_keys})
        return model_class(trial_config)

    return model_init


def search_price_model(
    model_class,
    config,
    processor,
    collator_class,
    training_args,
    items,
    n_trials: int,
    output_dir: str,
    validation_size: float = 0.2,
    search_space: PriceModelSearchSpace | None = None,
    callbacks=None,
):
    """Search a price model's hyperparameters on a validation part of `items` (training items only: the test
    split never takes part) and return the best trial's `(config, training_args)`.

    `config` is the model's config (its log-price statistics are set from the search's training part),
    `collator_class(processor)` its data collator; the results table goes to `output_dir`; `callbacks` go to
    the trials' Trainer."""
    from hf_pricer.data import log_price_statistics
    from hf_pricer.metrics import compute_metrics
    from hf_pricer.trainer import PricerTrainer, PricerTrainingArguments

    space = search_space or PriceModelSearchSpace()
    split = items.train_test_split(test_size=validation_size, seed=training_args.seed)
    config = copy.deepcopy(config)
    config.log_price_mean, config.log_price_std = log_price_statistics(split["train"])
    kept = ("per_device_train_batch_size", "max_grad_norm", "lr_scheduler_type", "warmup_steps", "seed")
    search_args = PricerTrainingArguments(
        **{key: getattr(training_args, key) for key in (*kept, "use_cpu")},
        output_dir=os.path.join(output_dir, "hpo"),
        eval_strategy="epoch",
        save_strategy="no",
        metric_for_best_model="smape",
        greater_is_better=False,
        report_to="none",
        disable_tqdm=True,
    )
    trainer = PricerTrainer(
        model_init=price_model_init(model_class, config, space),
        args=search_args,
        train_dataset=split["train"],
        eval_dataset=split["test"],
        data_collator=collator_class(processor),
        processing_class=processor,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    best, _ = search_hyperparameters(trainer, n_trials, output_dir, space, objective="smape")
    training_args = copy.deepcopy(training_args)
    for key in space.model_keys:
        setattr(config, key, best.hyperparameters[key])
    for key in ("learning_rate", "weight_decay", "num_train_epochs"):
        setattr(training_args, key, best.hyperparameters[key])
    return config, training_args


def dual_embedding_model_init(
    company_classifier,
    model_classifier,
    search_space: DualEmbeddingSearchSpace | None = None,
    lr_multiplier: float = 0.1,
    **config_kwargs,
) -> Callable[..., Any]:
    """`model_init` for `PricerTrainer(model_init=...)`: a new `DualEmbeddingForRegression` from the two trained
    embedding classifiers (objects, folders or Hub ids) per call, with `config_kwargs` overridden by the trial's
    model hyperparameters. It also sets the trainer's `module_learning_rates` from the trial's learning rate and
    `lr_multiplier` (hence `model_init.bind(trainer)`), since that depends on two hyperparameters at once."""
    from transformers import AutoModelForImageClassification

    from hf_pricer.models.dual_embedding import DualEmbeddingForRegression

    classifiers = [
        AutoModelForImageClassification.from_pretrained(value) if isinstance(value, str) else value
        for value in (company_classifier, model_classifier)
    ]
    space = search_space or DualEmbeddingSearchSpace()
    state: dict[str, Any] = {}

    def model_init(trial=None):
        kwargs = dict(config_kwargs)
        params = {} if trial is None else space.trial_params(trial)
        kwargs.update(space.config_kwargs(params))
        multiplier = params.get("lr_multiplier", lr_multiplier)
        trainer = state.get("trainer")
        if trainer is not None:
            learning_rate = params.get("learning_rate", trainer.args.learning_rate)
            trainer.args.module_learning_rates = DualEmbeddingForRegression.encoder_learning_rates(
                learning_rate, multiplier
            )
        logger.info("model_init: %s, encoder lr multiplier %g", kwargs, multiplier)
        return DualEmbeddingForRegression.from_classifiers(*classifiers, **kwargs)

    def bind(trainer):
        state["trainer"] = trainer
        return trainer

    model_init.bind = bind
    return model_init


def search_hyperparameters(
    trainer,
    n_trials: int,
    output_dir: str,
    search_space: SearchSpace,
    objective: str | None = None,
    direction: str = "minimize",
    backend: str = "optuna",
    **kwargs,
):
    """Run `trainer.hyperparameter_search` and write the results table.

    Args:
        trainer: a [`PricerTrainer`] built with `model_init=...` whose model reads the trial's config fields
            (e.g. [`dual_embedding_model_init`], bound to the trainer).
        n_trials: number of trials.
        output_dir: where `hpo_results.csv`, `hpo_results.md` and `hpo_best_run.json` go.
        search_space: the [`SearchSpace`] searched.
        objective: the evaluation metric optimised, with or without its `eval_` prefix; defaults to
            `args.metric_for_best_model`.
        direction: `"minimize"` or `"maximize"`.
        backend: `"optuna"` (every trial is read back from the study into the table) or `"ray"`.
        kwargs: passed to `hyperparameter_search` (e.g. `timeout`, or `storage`/`study_name` to share one
            optuna study between machines).

    Returns `(best_run, rows)`; each row is a trial with its state, objective value and hyperparameters.
    """
    objective = objective or trainer.args.metric_for_best_model
    if not objective:
        raise ValueError("name the metric to optimise: `objective=` or `--metric_for_best_model`")
    metric = objective.removeprefix("eval_")
    if backend == "optuna":
        import optuna

        kwargs.setdefault("study_name", f"{type(search_space).__name__}")
        kwargs.setdefault("storage", optuna.storages.InMemoryStorage())
        hp_space = search_space.optuna_hp_space
    elif backend == "ray":
        hp_space = search_space.ray_hp_space
    else:
        raise ValueError(f"`backend` must be 'optuna' or 'ray', got {backend!r}")
    best_run = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=lambda metrics: metrics[f"eval_{metric}"],
        n_trials=n_trials,
        direction=direction,
        backend=backend,
        **kwargs,
    )
    rows = []
    if backend == "optuna":
        study = optuna.load_study(study_name=kwargs["study_name"], storage=kwargs["storage"])
        for trial in study.trials:
            rows.append(
                {"trial": trial.number, "state": trial.state.name.lower(), metric: trial.value, **trial.params,
                 **trial.user_attrs}
            )
        write_results_table(rows, output_dir, sort_by=metric, descending=direction == "maximize")
    save_json({"best_run": best_run._asdict()}, os.path.join(output_dir, "hpo_best_run.json"))
    return best_run, rows


def write_results_table(
    rows: Sequence[Mapping[str, Any]],
    output_dir: str,
    sort_by: str,
    descending: bool = False,
    name: str = RESULTS_NAME,
) -> tuple[str, str]:
    """Write trial rows as CSV and a markdown table, sorted by `sort_by` (best first, rows without a value
    (failed trials) last). Returns the two paths."""
    rows = [to_serializable(dict(row)) for row in rows]
    sign = -1 if descending else 1
    rows.sort(key=lambda row: (row.get(sort_by) is None, sign * (row.get(sort_by) or 0.0)))
    columns = list(dict.fromkeys(key for row in rows for key in row))
    os.makedirs(output_dir, exist_ok=True)
    csv_path = os.path.join(output_dir, f"{name}.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column)) for column in columns) + " |" for row in rows]
    md_path = os.path.join(output_dir, f"{name}.md")
    with open(md_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return csv_path, md_path


__all__ = [
    "DualEmbeddingSearchSpace",
    "PriceModelSearchSpace",
    "SearchSpace",
    "dual_embedding_model_init",
    "price_model_init",
    "search_hyperparameters",
    "search_price_model",
    "write_results_table",
]
