"""Registering a model with the 🤗 Auto classes, and for remote code.

Each model folder calls :func:`register_model` from its `__init__.py`, so `import hf_pricer` (which imports
every model folder) makes `AutoConfig`/`AutoModel*`/`AutoProcessor`... load hf_pricer checkpoints, and
`save_pretrained` stores the modeling code next to the weights with an `auto_map`, so that
`AutoModel.from_pretrained(repo, trust_remote_code=True)` works where hf_pricer is installed but not imported.
A model class that names a `pipeline_task` also registers that `transformers.pipeline()` task
(`hf_pricer.pipelines`).
"""

from __future__ import annotations

from collections.abc import Mapping

import transformers
from transformers.models.auto.configuration_auto import CONFIG_MAPPING


def _register_processor(auto_name: str, config_class, processor_class) -> None:
    auto = getattr(transformers, auto_name)
    if auto_name == "AutoImageProcessor":
        auto.register(config_class, image_processor_classes={"torchvision": processor_class})
    elif auto_name == "AutoTokenizer":
        auto.register(config_class, slow_tokenizer_class=processor_class)
    else:
        auto.register(config_class, processor_class)


def register_model(
    config_class,
    models: Mapping[str, type],
    processors: Mapping[str, type] | None = None,
) -> None:
    """Register a config, its models and its processors with the Auto classes named by the mapping keys.

    Args:
        config_class: the model's config; its `model_type` and any `legacy_model_types` (names of earlier
            releases) resolve to it through `AutoConfig`.
        models: Auto class name → model class, e.g. `{"AutoModel": MyModel}`. A model class listed under
            several Auto classes is saved for remote code under the last one.
        processors: Auto class name (`"AutoImageProcessor"`, `"AutoFeatureExtractor"`, `"AutoTokenizer"`,
            `"AutoProcessor"`) → processor class.
    """
    transformers.AutoConfig.register(config_class.model_type, config_class)
    for legacy_type in getattr(config_class, "legacy_model_types", ()):
        # `AutoConfig.register` insists on the config's own `model_type`; older names map straight in.
        CONFIG_MAPPING.register(legacy_type, config_class)
    config_class.register_for_auto_class()
    for auto_name, model_class in models.items():
        getattr(transformers, auto_name).register(config_class, model_class)
        model_class.register_for_auto_class(auto_name)
    for model_class in set(models.values()):
        if getattr(model_class, "pipeline_task", None):
            from hf_pricer.pipelines import register_pipeline_task

            register_pipeline_task(model_class.pipeline_task, model_class._auto_class)
    for auto_name, processor_class in (processors or {}).items():
        _register_processor(auto_name, config_class, processor_class)
        processor_class.register_for_auto_class(auto_name)
