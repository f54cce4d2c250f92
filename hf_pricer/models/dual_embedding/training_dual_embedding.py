"""Training pieces of the dual-embedding models: metrics, target statistics, the embedding models' learning
rate, and the hyperparameter search with `Trainer.hyperparameter_search` and its results table (the seed's
"analyze tuning results").

The search tunes both training arguments (the learning rate, and the embedding models' rate as a multiple of
it) and model-config fields (`embedding_dim`, `attention_type`, `unfreeze_epochs`). The Trainer sets the
former on its arguments; the latter reach the model through `model_init(trial)`, which builds each trial's
model from the stage-1 classifiers with the trial's config. The unfreezing follows each trial's config through
`FreezeWarmupCallback()` (no schedule given: it asks `model.freeze_schedule()` when training starts).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .configuration_dual_embedding import ATTENTION_TYPES
from .data_dual_embedding import save_json, to_serializable
from .modeling_dual_embedding import DualEmbeddingForRegression

logger = logging.getLogger(__name__)

OBJECTIVE = "eval_mean_mae"


def _first_output(predictions):
    return predictions[0] if isinstance(predictions, (tuple, list)) else predictions


def classification_metrics(eval_pred) -> dict[str, float]:
    """`Trainer(compute_metrics=...)` hook of the stage-1 classifiers: accuracy."""
    logits = _first_output(eval_pred.predictions)
    labels = np.asarray(eval_pred.label_ids).reshape(-1)
    return {"accuracy": float((np.asarray(logits).argmax(-1) == labels).mean())}


def regression_metrics(target_names: Sequence[str]) -> Callable[[Any], dict[str, float]]:
    """A `compute_metrics` hook giving `mae_<target>` per target and their mean, `mean_mae` (the seed's
    objective, averaged over length and diameter)."""
    names = list(target_names)

    def compute(eval_pred) -> dict[str, float]:
        predictions = np.asarray(_first_output(eval_pred.predictions), dtype=np.float64)
        labels = np.asarray(eval_pred.label_ids, dtype=np.float64)
        if predictions.shape != labels.shape or predictions.shape[-1] != len(names):
            raise ValueError(
                f"predictions {predictions.shape} and labels {labels.shape} must both be (num_items, {len(names)})"
            )
        errors = np.abs(predictions - labels).mean(axis=0)
        metrics = {f"mae_{name}": float(error) for name, error in zip(names, errors, strict=True)}
        metrics["mean_mae"] = float(errors.mean())
        return metrics

    return compute


def target_statistics(dataset, target_names: Sequence[str]) -> tuple[list[float], list[float]]:
    """Per-target mean and standard deviation over `dataset` (std 1 for a constant target), for the config."""
    values = np.asarray([dataset[name] for name in target_names], dtype=np.float64)
    std = values.std(axis=1)
    return values.mean(axis=1).tolist(), np.where(std > 0, std, 1.0).tolist()


def encoder_learning_rates(learning_rate: float, multiplier: float) -> dict[str, float]:
    """`module_learning_rates` putting both embedding models at `multiplier` × `learning_rate` (seed: 0.1)."""
    return {prefix: learning_rate * multiplier for prefix in DualEmbeddingForRegression.encoder_parameter_prefixes}


def _schedule_name(epochs: Sequence[float]) -> str:
    return ",".join(f"{value:g}" for value in epochs)


@dataclass
class DualEmbeddingSearchSpace:
    """What the seed's HPO searches; each field lists the choices (the learning rate is a log-uniform range).

    Unfreeze schedules are `[E1, E2]` pairs (see `DualEmbeddingConfig.unfreeze_epochs`).
    """

    embedding_dims: Sequence[int] = (128, 256, 512)
    attention_types: Sequence[str] = ATTENTION_TYPES
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

    def trial_params(self, trial) -> dict[str, Any]:
        """The trial's hyperparameters: those of an optuna `Trial` (suggested here if not yet: `Trainer.train`
        calls `model_init(trial)` before `hp_space(trial)`, and optuna repeats a suggestion within a trial),
        an optuna `FixedTrial`'s, or Ray's dict."""
        if hasattr(trial, "suggest_categorical") and not hasattr(trial, "_params"):  # FixedTrial has `_params`
            self.optuna_hp_space(trial)
        return dict(trial.params if hasattr(trial, "params") else trial)

    def config_kwargs(self, trial) -> dict[str, Any]:
        """The [`DualEmbeddingConfig`] fields of a trial."""
        params = self.trial_params(trial)
        kwargs = {key: params[key] for key in self.model_keys if key in params}
        if isinstance(kwargs.get("unfreeze_epochs"), str):
            kwargs["unfreeze_epochs"] = [float(value) for value in kwargs["unfreeze_epochs"].split(",")]
        return kwargs


def dual_embedding_model_init(
    company_classifier,
    model_classifier,
    search_space: DualEmbeddingSearchSpace | None = None,
    lr_multiplier: float = 0.1,
    **config_kwargs,
) -> Callable[..., DualEmbeddingForRegression]:
    """`model_init` for `PricerTrainer(model_init=...)`: a new [`DualEmbeddingForRegression`] from the two stage-1
    classifiers (objects, folders or Hub ids) per call, with `config_kwargs` overridden by the trial's model
    hyperparameters. It also sets the trainer's `module_learning_rates` from the trial's learning rate and
    `lr_multiplier` (hence `model_init.bind(trainer)`), since that depends on two hyperparameters at once."""
    from .modeling_dual_embedding import EmbeddingClassifierForImageClassification

    classifiers = [
        EmbeddingClassifierForImageClassification.from_pretrained(value) if isinstance(value, str) else value
        for value in (company_classifier, model_classifier)
    ]
    space = search_space or DualEmbeddingSearchSpace()
    state: dict[str, Any] = {}

    def model_init(trial=None) -> DualEmbeddingForRegression:
        kwargs = dict(config_kwargs)
        params = {} if trial is None else space.trial_params(trial)
        kwargs.update(space.config_kwargs(params))
        multiplier = params.get("lr_multiplier", lr_multiplier)
        trainer = state.get("trainer")
        if trainer is not None:
            learning_rate = params.get("learning_rate", trainer.args.learning_rate)
            trainer.args.module_learning_rates = encoder_learning_rates(learning_rate, multiplier)
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
    search_space: DualEmbeddingSearchSpace | None = None,
    backend: str = "optuna",
    **kwargs,
):
    """Run `trainer.hyperparameter_search` (minimising `eval_mean_mae`) and write the results table.

    `trainer` is a [`PricerTrainer`] built with `model_init=dual_embedding_model_init(...)` (bound to it) and
    `compute_metrics=regression_metrics(...)`. With optuna, every trial is read back from the study and written
    to `output_dir/hpo_results.csv` and `.md`, best first. `kwargs` go to `hyperparameter_search` (e.g.
    `timeout`, or `storage`/`study_name` to share one optuna study between machines). Returns
    `(best_run, rows)`.
    """
    space = search_space or DualEmbeddingSearchSpace()
    if backend == "optuna":
        import optuna

        kwargs.setdefault("study_name", "dual_embedding_hpo")
        kwargs.setdefault("storage", optuna.storages.InMemoryStorage())
        hp_space = space.optuna_hp_space
    elif backend == "ray":
        hp_space = space.ray_hp_space
    else:
        raise ValueError(f"`backend` must be 'optuna' or 'ray', got {backend!r}")
    best_run = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=lambda metrics: metrics[OBJECTIVE],
        n_trials=n_trials,
        direction="minimize",
        backend=backend,
        **kwargs,
    )
    rows = []
    if backend == "optuna":
        study = optuna.load_study(study_name=kwargs["study_name"], storage=kwargs["storage"])
        for trial in study.trials:
            rows.append(
                {
                    "trial": trial.number,
                    "state": trial.state.name.lower(),
                    "mean_mae": trial.value,
                    **trial.params,
                    **{key: value for key, value in trial.user_attrs.items()},
                }
            )
        write_results_table(rows, output_dir)
    save_json({"best_run": best_run._asdict()}, os.path.join(output_dir, "hpo_best_run.json"))
    return best_run, rows


def write_results_table(rows: Sequence[Mapping[str, Any]], output_dir: str, name: str = "hpo_results") -> tuple[str, str]:
    """Write trial rows as CSV and a markdown table, sorted by `mean_mae` (best first, failed trials last).
    Returns the two paths."""
    rows = [to_serializable(dict(row)) for row in rows]
    rows.sort(key=lambda row: (row.get("mean_mae") is None, row.get("mean_mae") or 0.0))
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
    "classification_metrics",
    "dual_embedding_model_init",
    "encoder_learning_rates",
    "regression_metrics",
    "search_hyperparameters",
    "target_statistics",
    "write_results_table",
]
