"""`transformers.pipeline()` tasks for hf_pricer models.

- `"price-regression"` (:class:`PriceRegressionPipeline`): `{"title", "text", "image"?}` → `{"price": float}`, for
  every price model (with `price_low`/`price_high` for a model with price quantiles).
- `"entity-value-extraction"` (:class:`EntityValueExtractionPipeline`): `{"image", "entity_name"}` →
  `{"entity_value": "500.0 gram"}`, for the Resformer.

A model class names its task as `pipeline_task` (every `PriceModelMixin` model serves `"price-regression"`);
`hf_pricer.registration.register_model` registers the task with `PIPELINE_REGISTRY`, so where hf_pricer is
imported `pipeline("price-regression", model=folder_or_repo)` works. `save_pretrained` of such a model also writes
the pipeline's code next to the weights and names it in `config.custom_pipelines`, so that
`pipeline(model=folder_or_repo, trust_remote_code=True)` works in a process that never imported hf_pricer (it
must be installed: the stored code imports it).

**A new price model** (an ensemble, an exported ONNX graph wrapped in a `PreTrainedModel`...) plugs into
`"price-regression"` with three things: its model class inherits `PriceModelMixin` (or sets
`pipeline_task = "price-regression"` and inherits :class:`hf_pricer.modeling_utils.PipelineTaskMixin`), its
forward output has `predictions` (dollars, shape `(batch_size,)`; and, for an interval, `quantile_predictions`
of shape `(batch_size, num_quantiles)`), and its processor has `process_items(items)`, which turns a list of
items (`title`, `text`, `image` as a loaded PIL image or None) into the model's keyword arguments.
`PriceEnsembleForPriceRegression` is such a model.
"""

from __future__ import annotations

import os
import shutil
import sys

import transformers
from transformers.pipelines import PIPELINE_REGISTRY

# task → (module of this package, pipeline class)
PIPELINE_TASKS = {
    "price-regression": ("price_regression", "PriceRegressionPipeline"),
    "entity-value-extraction": ("entity_value_extraction", "EntityValueExtractionPipeline"),
}


def _pipeline_class(task: str):
    import importlib

    module, name = PIPELINE_TASKS[task]
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def register_pipeline_task(task: str, auto_class_name: str) -> None:
    """Register `task` with `transformers.pipelines.PIPELINE_REGISTRY`; models load with `auto_class_name`."""
    if task not in PIPELINE_TASKS:
        raise ValueError(f"unknown pipeline task {task!r}; hf_pricer's tasks are {sorted(PIPELINE_TASKS)}")
    if task in PIPELINE_REGISTRY.get_supported_tasks():
        return
    PIPELINE_REGISTRY.register_pipeline(
        task, pipeline_class=_pipeline_class(task), pt_model=getattr(transformers, auto_class_name), type="multimodal"
    )


def custom_pipelines_entry(task: str, auto_class_name: str) -> dict:
    """The `config.custom_pipelines` value that lets `pipeline(model=..., trust_remote_code=True)` find `task`'s
    code stored next to the weights (the form `Pipeline.save_pretrained` writes)."""
    module, name = PIPELINE_TASKS[task]
    return {task: {"impl": f"{module}.{name}", "pt": [auto_class_name], "type": "multimodal"}}


def save_pipeline_code(task: str, folder: str | os.PathLike) -> str:
    """Copy the module of `task`'s pipeline into `folder`; returns the file written."""
    source = sys.modules[_pipeline_class(task).__module__].__file__
    return shutil.copyfile(source, os.path.join(folder, os.path.basename(source)))


def __getattr__(name: str):
    for task, (_, class_name) in PIPELINE_TASKS.items():
        if name == class_name:
            return _pipeline_class(task)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PIPELINE_TASKS",
    "EntityValueExtractionPipeline",
    "PriceRegressionPipeline",
    "custom_pipelines_entry",
    "register_pipeline_task",
    "save_pipeline_code",
]
