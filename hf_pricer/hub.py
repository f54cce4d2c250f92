"""Hub round trip: model cards whose `model-index` carries the price metrics, and pushing models and datasets.

`Trainer.create_model_card` only records metrics it knows (accuracy, F1, …) in the model-index, so
SMAPE and MAE would be lost; :func:`build_model_card` writes them with huggingface_hub's
`ModelCardData`/`EvalResult`. :class:`hf_pricer.trainer.PricerTrainer` uses it for
`trainer.push_to_hub()`, and :func:`push_model_to_hub` does the same for a model outside a Trainer.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData

# Metrics written to the model-index, with their display names; values are read from `metrics`
# with or without Trainer's `eval_`/`test_` prefix.
CARD_METRICS = {
    "smape": "SMAPE (%)",
    "mae": "MAE ($)",
    "rmsle": "RMSLE",
    "r2": "R²",
    "hit_rate": "Hit rate (%)",
    "interval_coverage": "Prediction-interval coverage (%)",
    # entity-value extraction (the challenge's score, see `hf_pricer.metrics.entity_f1`)
    "f1": "F1",
    "precision": "Precision",
    "recall": "Recall",
    "exact_match": "Exact match",
    "sanity_pass_rate": "Sanity-check pass rate",
    # embedding classifiers and multi-target regression (dual-embedding regressor)
    "accuracy": "Accuracy",
    "mean_mae": "Mean MAE (over targets)",
    # text → image embedding alignment: retrieval of the true image among the evaluated images
    "recall_at_1": "Recall@1",
    "recall_at_5": "Recall@5",
    "recall_at_10": "Recall@10",
    "mrr": "MRR",
    "median_rank": "Median rank",
    "cosine_similarity": "Mean cosine similarity",
}


class CardTask(NamedTuple):
    """The model-index task of a model card (a Hub task id and its display name), and what the model does."""

    task_type: str
    task_name: str
    description: str


_HF_PRICER = "[hf_pricer](https://github.com/hf-pricer/hf_pricer)"
# Model-card tasks by name, which is also the card's tag. A model class names its task as `card_task`;
# without one it is a price model.
CARD_TASKS = {
    "price-prediction": CardTask(
        "tabular-regression",
        "Price prediction",
        f"price model trained with {_HF_PRICER}. It predicts a product's price in US dollars.",
    ),
    "entity-value-extraction": CardTask(
        "image-to-text",
        "Entity value extraction",
        f"model trained with {_HF_PRICER}. It reads an entity's value and unit (e.g. `2.5 kilogram`) off a "
        "product image, given the entity's name.",
    ),
    "image-classification": CardTask(
        "image-classification",
        "Image classification",
        f"model trained with {_HF_PRICER}. It classifies an image and embeds it; the dual-embedding "
        "regressor reuses its embeddings.",
    ),
    "image-regression": CardTask(
        "image-regression",
        "Numeric attributes from an image",
        f"dual-embedding regressor trained with {_HF_PRICER}. It predicts numeric attributes "
        "(`config.target_names`) from an image, fusing visual features with level-1 and level-2 label "
        "embeddings by attention.",
    ),
    "embedding-alignment": CardTask(
        "feature-extraction",
        "Text-to-image embedding alignment",
        f"model trained with {_HF_PRICER}. It maps a caption's text embedding onto the embedding of the "
        "image it describes, for text-to-image retrieval.",
    ),
}

# An example input of each pipeline task, for the card's usage snippet.
PIPELINE_EXAMPLES = {
    "price-regression": '{"title": "Steel kettle", "text": "1.7 l, 2200 W, keep-warm", "image": "kettle.jpg"}',
    "entity-value-extraction": '{"image": "label.png", "entity_name": "item_weight"}',
}

_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

{{ description }}

## Evaluation

{{ results_table }}
{% if plot_file %}
![Predicted vs. true price]({{ plot_file }})
{% endif %}
{% for title, body in sections %}
## {{ title }}

{{ body }}
{% endfor %}
## Usage
{% if pipeline_task %}
```python
import hf_pricer  # registers the model, its processor and the "{{ pipeline_task }}" pipeline
from transformers import pipeline

pipe = pipeline("{{ pipeline_task }}", model="{{ repo_id }}")
pipe({{ pipeline_example }})
```

Without hf_pricer imported, `pipeline(model="{{ repo_id }}", trust_remote_code=True)` runs the pipeline code
stored with the model (it needs `pip install hf_pricer`). The model itself:
{% endif %}
```python
import hf_pricer  # registers the model with the Auto classes
from transformers import {{ auto_class }}

model = {{ auto_class }}.from_pretrained("{{ repo_id }}")
```

Without hf_pricer imported, `{{ auto_class }}.from_pretrained("{{ repo_id }}", trust_remote_code=True)` loads
the modeling code stored in this repository (it needs `pip install hf_pricer`).

## Training configuration

```json
{{ training_config }}
```

## Model configuration

```json
{{ model_config }}
```
"""

_TRAINING_KEYS = (
    "learning_rate",
    "module_learning_rates",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "weight_decay",
    "max_grad_norm",
    "lr_scheduler_type",
    "warmup_steps",
    "optim",
    "bf16",
    "fp16",
    "seed",
)


class SplitMetrics(NamedTuple):
    """The metrics of one evaluated split, as a model card reports them: the split's name (`"validation"`,
    `"test"`), its number of examples (None when unknown) and a note on its role."""

    split: str
    metrics: Mapping[str, float]
    size: int | None = None
    note: str = ""


def _metric(metrics: Mapping[str, float], name: str):
    for key in (name, f"eval_{name}", f"test_{name}"):
        if key in metrics and metrics[key] is not None:
            return float(metrics[key])
    return None


def latest_eval_metrics(log_history: Sequence[Mapping]) -> dict[str, float]:
    """The most recent evaluation metrics in a Trainer's `state.log_history`."""
    for entry in reversed(log_history):
        if any(key.startswith("eval_") for key in entry):
            return dict(entry)
    return {}


def _results_table(dataset_name: str, split: SplitMetrics, rows: list[EvalResult]) -> str:
    size = f", {split.size:,} examples" if split.size is not None else ""
    note = f" ({split.note})" if split.note else ""
    lines = "\n".join(f"| {r.metric_name} | {r.metric_value:.4g} |" for r in rows)
    return f"`{dataset_name}`, **{split.split}** split{size}{note}:\n\n| metric | value |\n|---|---|\n{lines}"


def build_model_card(
    model,
    metrics: Mapping[str, float] | None = None,
    *,
    repo_id: str,
    results: Sequence[SplitMetrics] | None = None,
    usage_path: str | None = None,
    dataset_id: str | None = None,
    dataset_name: str | None = None,
    split: str = "test",
    training_args=None,
    base_model: str | list[str] | None = None,
    plot_file: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    sections: Mapping[str, str] | None = None,
) -> ModelCard:
    """A model card whose metadata `model-index` holds the metrics of `CARD_METRICS` (price metrics, or
    entity-extraction F1 ...) of each evaluated split, under the model's task (`CARD_TASKS[model.card_task]`,
    price prediction by default), with a usage snippet (the model's `pipeline()` task where it has one).

    Args:
        metrics, split: the metrics of one split; or `results`, one [`SplitMetrics`] per split (e.g. the
            validation split that chose the checkpoint and the held-out test split), each reported on its own.
        repo_id: the card's title (its last part) and where the usage snippet loads the model from, unless
            `usage_path` (e.g. the local folder the model was saved to) says otherwise.
        sections: title → markdown, sections that follow the evaluation; a model with numeric or categorical
            inputs also gets an "Inputs" section listing them.
    """
    dataset_id = dataset_id or "local"
    dataset_name = dataset_name or dataset_id
    task_tag = getattr(model, "card_task", "price-prediction")
    task = CARD_TASKS[task_tag]
    if results is None:
        results = [SplitMetrics(split, metrics or {})]
    eval_results, tables = [], []
    for split_metrics in results:
        rows = [
            EvalResult(
                task_type=task.task_type,
                task_name=task.task_name,
                dataset_type=dataset_id,
                dataset_name=dataset_name,
                dataset_split=split_metrics.split,
                metric_type=name,
                metric_name=display,
                metric_value=value,
            )
            for name, display in CARD_METRICS.items()
            if (value := _metric(split_metrics.metrics, name)) is not None
        ]
        if rows:
            eval_results += rows
            tables.append(_results_table(dataset_name, split_metrics, rows))
    model_name = repo_id.split("/")[-1]
    pipeline_task = getattr(model, "pipeline_task", None)
    card_data = ModelCardData(
        model_name=model_name,
        library_name="transformers",
        pipeline_tag=pipeline_task,
        tags=["hf_pricer", task_tag, model.config.model_type, *tags],
        # only what names a Hub dataset: not the embedded catalog, nor a local file
        datasets=[dataset_id] if dataset_id not in ("local", "catalog") and not os.path.exists(dataset_id) else None,
        metrics=sorted({result.metric_type for result in eval_results}) or None,
        base_model=base_model,
        eval_results=eval_results or None,
    )
    training_config = {}
    if training_args is not None:
        training_config = {key: getattr(training_args, key) for key in _TRAINING_KEYS if hasattr(training_args, key)}
    description = description or f"A `{type(model).__name__}` {task.description}"
    return ModelCard.from_template(
        card_data,
        template_str=_TEMPLATE,
        model_name=model_name,
        repo_id=usage_path or repo_id,
        # the Auto class the model is registered for remote code with (`register_for_auto_class`)
        auto_class=getattr(type(model), "_auto_class", None) or "AutoModel",
        pipeline_task=pipeline_task,
        pipeline_example=PIPELINE_EXAMPLES.get(pipeline_task),
        description=description,
        results_table="\n\n".join(tables) or "Not evaluated.",
        plot_file=plot_file,
        sections=list({**_input_sections(model.config), **(sections or {})}.items()),
        training_config=json.dumps(training_config, indent=2, default=str),
        model_config=model.config.to_json_string(use_diff=True).strip(),
    )


def feature_groups(names: Sequence[str]) -> list[str]:
    """Feature names with numbered runs folded: `["weight_g", "text_embedding_0", ..., "text_embedding_383"]`
    → `["weight_g", "text_embedding_0..383"]`."""
    # (prefix, first, last) of a numbered run, (name, None, None) for any other name
    groups: list[tuple[str, int | None, int | None]] = []
    for name in names:
        prefix, _, number = name.rpartition("_")
        if not (prefix and number.isdigit()):
            groups.append((name, None, None))
        elif groups and groups[-1][0] == prefix and groups[-1][2] == int(number) - 1:
            groups[-1] = (prefix, groups[-1][1], int(number))
        else:
            groups.append((prefix, int(number), int(number)))
    return [
        name if first is None else f"{name}_{first}" if first == last else f"{name}_{first}..{last}"
        for name, first, last in groups
    ]


def _input_sections(config) -> dict[str, str]:
    numeric = list(getattr(config, "numeric_feature_names", ()) or ())
    categorical = list(getattr(config, "categorical_feature_names", ()) or ())
    if not numeric and not categorical:
        return {}
    lines = [
        "Next to the text (and image), the model reads these features of each item, computed by its "
        "processor (`hf_pricer.TabularFeatures`, saved with it); a missing value has its own learned "
        "embedding."
    ]
    if numeric:
        lines.append(f"\n- numeric ({len(numeric)}): " + ", ".join(f"`{g}`" for g in feature_groups(numeric)))
    if categorical:
        sizes = list(getattr(config, "categorical_cardinalities", ()) or ())
        described = [f"`{name}` ({size} ids)" if size else f"`{name}`"
                     for name, size in zip(categorical, sizes + [0] * len(categorical))]
        lines.append(f"- categorical ({len(categorical)}): " + ", ".join(described))
    return {"Inputs": "\n".join(lines)}


def build_ensemble_card(model, results: Mapping, *, repo_id: str, dataset_id: str | None = None,
                        split: str = "test") -> ModelCard:
    """The model card of a `PriceEnsembleForPriceRegression`: the ensemble's metrics in the model-index, and a
    table of every member's metrics and stacker weight next to the ensemble's (`results` as
    `hf_pricer.ensemble.evaluate_price_ensemble` returns them)."""
    config = model.config
    columns = ("smape", "mae", "hit_rate", "interval_coverage")
    header = "| member | kind | stacker weight | SMAPE (%) | MAE ($) | hit rate (%) | interval coverage (%) |"

    def cells(figures):
        values = [_metric(figures, column) for column in columns]
        return " | ".join("" if value is None else f"{value:.2f}" for value in values)

    stack = f"intercept {config.stacker_intercept:.3f}, × {config.price_multiplier:.2f}"
    rows = [f"| **ensemble** | stack | {stack} | {cells(results)} |"]
    for spec, weight in zip(config.members, config.stacker_weights):
        figures = cells(results["members"][spec["name"]])
        rows.append(f"| {spec['name']} | {spec['kind']} | {weight:.3f} | {figures} |")
    body = "\n".join([
        f"On the {split} split. The stack is `intercept + Σ weight × member log price`, its price × the "
        "multiplier; weights were fitted by non-negative least squares on out-of-fold predictions of the "
        "training split.",
        "",
        header,
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    return build_model_card(
        model, results, repo_id=repo_id, dataset_id=dataset_id, split=split, sections={"Members": body},
        description=f"A `{type(model).__name__}` (price ensemble of {len(config.members)} members) "
        f"{CARD_TASKS['price-prediction'].description}",
    )


def push_model_to_hub(
    model,
    repo_id: str,
    *,
    processor=None,
    metrics: Mapping[str, float] | None = None,
    predictions=None,
    labels=None,
    dataset_id: str | None = None,
    split: str = "test",
    training_args=None,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
    commit_message: str = "Upload price model with hf_pricer",
    card: ModelCard | None = None,
):
    """Push model weights (safetensors), processor and model card in one commit. Returns the `CommitInfo`.

    If `predictions` and `labels` (prices) are given, the card gets a predicted-vs-true plot and, when
    `metrics` is not given, metrics computed from them. `card` replaces the card built from the metrics.
    """
    from .metrics import price_metrics
    from .plots import PRICE_PLOT_FILENAME, save_price_plot

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
    if metrics is None and predictions is not None and labels is not None:
        metrics = price_metrics(predictions, labels)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        if processor is not None:
            processor.save_pretrained(folder)
        plot_file = None
        if predictions is not None and labels is not None:
            plot_file = os.path.basename(save_price_plot(predictions, labels, os.path.join(folder, PRICE_PLOT_FILENAME)))
        card = card or build_model_card(
            model,
            metrics or {},
            repo_id=repo_id,
            dataset_id=dataset_id,
            split=split,
            training_args=training_args,
            plot_file=plot_file,
        )
        card.save(os.path.join(folder, "README.md"))
        return api.upload_folder(
            repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=revision
        )


def push_dataset_to_hub(dataset, repo_id: str, *, private: bool = False, token: str | None = None, **kwargs):
    """Push a prepared item dataset (a `Dataset` or `DatasetDict` in the item schema) as parquet shards."""
    from .data.schema import ITEM_COLUMNS

    columns = dataset.column_names
    columns = next(iter(columns.values())) if isinstance(columns, dict) else columns
    missing = [name for name in ("title", "text", "price") if name not in columns]
    if missing:
        raise ValueError(
            f"dataset is not in the item schema {ITEM_COLUMNS}: missing {missing}; load it with hf_pricer.load_items"
        )
    return dataset.push_to_hub(repo_id, private=private, token=token, **kwargs)
