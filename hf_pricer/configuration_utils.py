"""What the model configurations share."""


from dataclasses import dataclass
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


LOSS_TYPES = ("smape", "l1", "huber", "mse")


@dataclass(repr=False)
class PriceConfigMixin:
    r"""
    The config fields every price model shares: its price head (loss, log-price statistics, quantiles and
    their calibration) and its tabular inputs (numeric and categorical features next to text and image).

    A price-model config lists it after `PreTrainedConfig` among its bases, may re-declare a field to change
    its default (the design's loss), and adds these docs to its own with [`price_config_docstring`]; `@strict`
    validates them through `validate_price_head`.

    Args:
        loss_type (`str`, *optional*, defaults to the model design's):
            Training loss: `"smape"` in price space (the dual-encoder design's), `"l1"` on the standardized
            log price (the residual regressor design's), `"huber"` or `"mse"` on the standardized log price.
        log_price_mean (`float`, *optional*, defaults to 0.0):
            Mean of `log1p(price)` over the training set. Stored here so inference needs no training data.
        log_price_std (`float`, *optional*, defaults to 1.0):
            Standard deviation of `log1p(price)` over the training set.
        min_price (`float`, *optional*, defaults to the model design's):
            Predictions are clipped to at least this price.
        quantiles (`list[float]`, *optional*, defaults to `[]`):
            Quantiles of the price predicted next to the point price, e.g. `[0.1, 0.5, 0.9]` (an 80 % interval
            and the median), trained with the pinball loss on the standardized log price; `[]` predicts none.
        interval_margin (`float`, *optional*, defaults to 0.0):
            Widening, in `log1p(price)`, of the quantiles below and above 0.5, fitted on held-out data
            (conformal calibration, see [`calibrate_interval_margin`]) so that the predicted interval holds
            its coverage.
        numeric_feature_names (`list[str]`, *optional*, defaults to `[]`):
            Names of the `numeric_features` columns (quantities, units, embeddings... standardized by the
            processor; NaN marks a missing value, which the model replaces by a learned embedding).
        categorical_feature_names (`list[str]`, *optional*, defaults to `[]`):
            Names of the `categorical_features` columns (e.g. `category`, `brand`), as ids from the
            processor's vocabularies.
        categorical_cardinalities (`list[int]`, *optional*, defaults to `[]`):
            Number of ids of each categorical feature (its vocabulary plus the ids of missing and unseen
            values), one per name.
    """

    loss_type: str = "l1"
    log_price_mean: float | int = 0.0
    log_price_std: float | int = 1.0
    min_price: float | int = 0.0
    quantiles: list[float] | tuple[float, ...] = ()
    interval_margin: float | int = 0.0
    numeric_feature_names: list[str] | tuple[str, ...] = ()
    categorical_feature_names: list[str] | tuple[str, ...] = ()
    categorical_cardinalities: list[int] | tuple[int, ...] = ()

    def validate_price_head(self):
        """Part of `@strict`-powered validation."""
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"`loss_type` must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if not self.log_price_std > 0:
            raise ValueError(f"`log_price_std` must be positive, got {self.log_price_std}")
        quantiles = list(self.quantiles)
        if any(not 0 < q < 1 for q in quantiles) or quantiles != sorted(set(quantiles)):
            raise ValueError(f"`quantiles` must be increasing and strictly between 0 and 1, got {quantiles}")
        if self.interval_margin < 0:
            raise ValueError(f"`interval_margin` must be >= 0, got {self.interval_margin}")
        if len(self.categorical_cardinalities) != len(self.categorical_feature_names):
            raise ValueError(
                f"`categorical_cardinalities` has {len(self.categorical_cardinalities)} values for "
                f"{len(self.categorical_feature_names)} `categorical_feature_names`"
            )
        if any(cardinality < 1 for cardinality in self.categorical_cardinalities):
            raise ValueError(
                f"`categorical_cardinalities` must be positive, got {list(self.categorical_cardinalities)}"
            )


def price_config_docstring(config_class):
    """Class decorator: add the `Args:` docs of [`PriceConfigMixin`]'s fields to the end of the `Args:`
    section of `config_class`'s docstring (before its `Example:`), so that each price model documents them
    once."""
    args = PriceConfigMixin.__doc__.split("    Args:\n", 1)[1].rstrip()
    doc = config_class.__doc__ or ""
    head, example, tail = doc.partition("\n    Example:")
    config_class.__doc__ = head.rstrip() + "\n" + args + "\n" + (example + tail if example else "\n    ")
    return config_class


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
