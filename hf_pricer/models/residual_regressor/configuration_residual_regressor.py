"""Configuration of the residual price regressor."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from hf_pricer.configuration_utils import (
    PipelineConfigMixin,
    PriceConfigMixin,
    RenamedModelTypeMixin,
    price_config_docstring,
)


@price_config_docstring
@strict
class ResidualRegressorConfig(PipelineConfigMixin, RenamedModelTypeMixin, PreTrainedConfig, PriceConfigMixin):
    r"""
    Configuration of a [`ResidualRegressorForPriceRegression`]: hashed bag-of-words features (and, optionally,
    numeric and categorical features) → deep residual MLP → standardized log price. The defaults are those of
    the design this model follows (~134M parameters).

    Args:
        num_features (`int`, *optional*, defaults to 5000):
            Width of the hashed bag-of-words input; must match the processor's `n_features`.
        num_layers (`int`, *optional*, defaults to 10):
            Depth counted as in the design: the input layer, `num_layers - 2` residual blocks (two linear
            layers each) and the output layer.
        hidden_size (`int`, *optional*, defaults to 4096):
            Width of every hidden layer.
        dropout (`float`, *optional*, defaults to 0.2):
            Dropout after the input layer and inside every residual block.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the linear layers.

    Example:

    ```python
    >>> from hf_pricer import ResidualRegressorConfig, ResidualRegressorForPriceRegression
    >>> config = ResidualRegressorConfig(num_features=1024, num_layers=4, hidden_size=256)
    >>> model = ResidualRegressorForPriceRegression(config)
    ```
    """

    model_type = "hf_pricer_residual_regressor"
    legacy_model_types = ("hf_pricer_residual",)

    num_features: int = 5000
    num_layers: int = 10
    hidden_size: int = 4096
    dropout: float | int = 0.2
    initializer_range: float = 0.02

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        if self.num_layers < 2:
            raise ValueError(f"`num_layers` counts the input and output layers and must be >= 2, got {self.num_layers}")
        if self.num_features < 1 or self.hidden_size < 1:
            raise ValueError(
                f"`num_features` and `hidden_size` must be positive, got {self.num_features} and {self.hidden_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")


__all__ = ["ResidualRegressorConfig"]
