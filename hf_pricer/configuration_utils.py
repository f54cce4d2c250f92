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
