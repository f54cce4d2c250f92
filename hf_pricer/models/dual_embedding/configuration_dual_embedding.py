"""Configuration of the dual-embedding regressor, which fuses the embeddings of two embedding classifiers with
the visual features."""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# Registers the embedding classifier with `AutoConfig`, also where this file runs as remote code.
import hf_pricer  # noqa: F401, E402

# The embedding classifiers' configs are resolved by their `model_type` through `AutoConfig`.
CLASSIFIER_MODEL_TYPE = "hf_pricer_embedding_classifier"

ATTENTION_TYPES = ("dual", "triple", "hierarchical")
REGRESSION_LOSS_TYPES = ("mse", "l1", "huber")


@strict
class DualEmbeddingConfig(PreTrainedConfig):
    r"""
    Configuration of a [`DualEmbeddingForRegression`]: the visual features of the company classifier's ViT,
    the company embedding and the model-type embedding (both [`EmbeddingClassifierConfig`] models of stage 1),
    projected to `embedding_dim`, fused by attention, and an MLP that predicts `len(target_names)` numbers.
    The defaults are those of the design this model follows: ViT-Base, triple attention, dental-implant
    length and diameter.

    Args:
        company_config (`EmbeddingClassifierConfig` or `dict`, *optional*):
            The level-1 ("company") classifier; its ViT also gives the visual features.
        model_config (`EmbeddingClassifierConfig` or `dict`, *optional*):
            The level-2 ("model type") classifier; defaults to one with `label_field="model"`.
        target_names (`list[str]`, *optional*, defaults to `["length", "diameter"]`):
            Names of the predicted numbers, in output order; records carry them as fields.
        target_mean (`list[float]`, *optional*):
            Per-target training-set mean; the network predicts standardized targets. Defaults to zeros.
        target_std (`list[float]`, *optional*):
            Per-target training-set standard deviation (positive). Defaults to ones.
        attention_type (`str`, *optional*, defaults to `"triple"`):
            How the branches are fused:
            - `"dual"`: attention weighs the company vs the model embedding; the head sees the visual features
              and the weighted embedding;
            - `"triple"`: attention weighs visual features vs company vs model embedding;
            - `"hierarchical"`: company vs model first, then that combination vs the visual features.
        embedding_dim (`int`, *optional*, defaults to 256):
            Size of the common space the three branches are projected to before the attention.
        attention_hidden_size (`int`, *optional*, defaults to 128):
            Hidden size of the additive attention's scoring MLP.
        head_hidden_size (`int`, *optional*, defaults to 256):
            Hidden size of the regression head (Linear → GELU → Dropout → Linear).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout after the projections and in the head.
        loss_type (`str`, *optional*, defaults to `"mse"`):
            Per-target loss on the standardized targets: `"mse"`, `"l1"` or `"huber"`; averaged over targets.
        unfreeze_epochs (`list[float]`, *optional*, defaults to `[20, 40]`):
            Progressive unfreezing `[E1, E2]`: only the fusion and head train before E1, the top
            `unfreeze_fraction` of both classifiers' ViT layers (and their projections) from E1, everything
            from E2. Read by [`FreezeWarmupCallback`] through [`DualEmbeddingForRegression.freeze_schedule`].
        unfreeze_fraction (`float`, *optional*, defaults to 0.5):
            Share of the ViT layers (the top ones) unfrozen at E1.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the fusion layers and the head.

    Example:

    ```python
    >>> from hf_pricer import DualEmbeddingConfig, DualEmbeddingForRegression
    >>> model = DualEmbeddingForRegression.from_classifiers(
    ...     "outputs/company-classifier", "outputs/model-classifier", target_names=["length", "diameter"]
    ... )  # doctest: +SKIP
    ```
    """

    model_type = "hf_pricer_dual_embedding"
    sub_configs_defaults = {
        "company_config": SubConfigSpec(config_class=AutoConfig, model_type=CLASSIFIER_MODEL_TYPE),
        "model_config": SubConfigSpec(
            config_class=AutoConfig, model_type=CLASSIFIER_MODEL_TYPE, init_kwargs={"label_field": "model"}
        ),
    }

    company_config: PreTrainedConfig | dict | None = None
    model_config: PreTrainedConfig | dict | None = None
    target_names: list[str] | tuple[str, ...] = ("length", "diameter")
    target_mean: list[float | int] | tuple[float | int, ...] | None = None
    target_std: list[float | int] | tuple[float | int, ...] | None = None
    attention_type: str = "triple"
    embedding_dim: int = 256
    attention_hidden_size: int = 128
    head_hidden_size: int = 256
    dropout: float | int = 0.1
    loss_type: str = "mse"
    unfreeze_epochs: list[float | int] | tuple[float | int, ...] = (20, 40)
    unfreeze_fraction: float | int = 0.5
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        self.target_names = list(self.target_names)
        count = len(self.target_names)
        self.target_mean = [float(value) for value in (self.target_mean or [0.0] * count)]
        self.target_std = [float(value) for value in (self.target_std or [1.0] * count)]
        self.unfreeze_epochs = [float(value) for value in self.unfreeze_epochs]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        names = self.target_names
        if not names or any(not name for name in names) or len(set(names)) != len(names):
            raise ValueError(f"`target_names` must be distinct non-empty names, got {names}")
        for field in ("target_mean", "target_std"):
            if len(getattr(self, field)) != len(names):
                raise ValueError(
                    f"`{field}` has {len(getattr(self, field))} values for {len(names)} targets {names}"
                )
        if any(not std > 0 for std in self.target_std):
            raise ValueError(f"`target_std` must be positive, got {self.target_std}")
        if self.attention_type not in ATTENTION_TYPES:
            raise ValueError(f"`attention_type` must be one of {ATTENTION_TYPES}, got {self.attention_type!r}")
        if self.loss_type not in REGRESSION_LOSS_TYPES:
            raise ValueError(f"`loss_type` must be one of {REGRESSION_LOSS_TYPES}, got {self.loss_type!r}")
        for field in ("embedding_dim", "attention_hidden_size", "head_hidden_size"):
            if getattr(self, field) < 1:
                raise ValueError(f"`{field}` must be positive, got {getattr(self, field)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if len(self.unfreeze_epochs) != 2 or not 0 <= self.unfreeze_epochs[0] <= self.unfreeze_epochs[1]:
            raise ValueError(f"`unfreeze_epochs` must be [E1, E2] with 0 <= E1 <= E2, got {self.unfreeze_epochs}")
        if not 0.0 <= self.unfreeze_fraction <= 1.0:
            raise ValueError(f"`unfreeze_fraction` must be in [0, 1], got {self.unfreeze_fraction}")


__all__ = ["ATTENTION_TYPES", "DualEmbeddingConfig"]
