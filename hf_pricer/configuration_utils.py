"""What the model configurations share."""

from __future__ import annotations

from typing import ClassVar


class RenamedModelTypeMixin:
    """For a config whose `model_type` was renamed: checkpoints saved under an old name (`legacy_model_types`)
    load as this config, without the warning `from_pretrained` gives for a foreign `model_type`, and are saved
    again under the current name. `hf_pricer.registration.register_model` maps the old names for the Auto
    classes."""

    legacy_model_types: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def _current_model_type(cls, config_dict: dict) -> dict:
        if config_dict.get("model_type") in cls.legacy_model_types:
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict

    @classmethod
    def get_config_dict(cls, *args, **kwargs):
        config_dict, kwargs = super().get_config_dict(*args, **kwargs)
        return cls._current_model_type(config_dict), kwargs

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        # `AutoConfig` reads the file itself and hands the dict over with the old name in it.
        return super().from_dict(cls._current_model_type(config_dict), **kwargs)


class PipelineConfigMixin:
    """For the config of a model that an hf_pricer pipeline task serves. Saved checkpoints name the pipeline's
    stored code in `custom_pipelines`, for processes without hf_pricer (`trust_remote_code=True`). Where hf_pricer
    itself loads the config (its own class, not a copy loaded as remote code), the task is registered already and
    that entry is dropped: with it, `pipeline(task, model=...)` would insist on `trust_remote_code` for a task
    hf_pricer serves itself. Saving writes it again."""

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        if cls.__module__.startswith("hf_pricer.") and "custom_pipelines" in config_dict:
            config_dict = {key: value for key, value in config_dict.items() if key != "custom_pipelines"}
        return super().from_dict(config_dict, **kwargs)
