"""Configuration of the dual-encoder price model: any HF text encoder + a timm image encoder."""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from hf_pricer.configuration_utils import PipelineConfigMixin, PriceConfigMixin, price_config_docstring

CROSS_ATTENTION_MODES = ("tokens", "pooled")
MODALITIES = ("both", "text", "image")
TEXT_POOLING = ("cls", "mean")


@price_config_docstring
@strict
class DualEncoderConfig(PipelineConfigMixin, PreTrainedConfig, PriceConfigMixin):
    r"""
    Configuration of a [`DualEncoderForPriceRegression`]: a text encoder (any 🤗 encoder, default BERT) and a
    timm image encoder (default EfficientNet-B4), projected to a common space, fused by cross-modal attention,
    and an MLP head that predicts the standardized log price. The defaults are those of the design this model
    follows.

    Args:
        text_config (`PreTrainedConfig` or `dict`, *optional*):
            Configuration of the text encoder, built with `AutoModel.from_config`. A dict is resolved by its
            `model_type` (any registered 🤗 config). Defaults to a `BertConfig()` (bert-base-uncased).
        text_pooling (`str`, *optional*, defaults to `"cls"`):
            How the text encoder's token states become the text vector. `"cls"`: the first token's last hidden
            state (the design's; inputs must be right-padded). `"mean"`: the mean of the non-padding token
            states, as sentence-transformers models such as all-MiniLM-L6-v2 are trained to be read.
        image_encoder (`str`, *optional*, defaults to `"efficientnet_b4"`):
            timm architecture of the image encoder, created with `num_classes=0` (pooled features).
        image_feature_dim (`int`, *optional*):
            Size of the image encoder's pooled features (1792 for EfficientNet-B4). Read from the backbone
            when the model is built and stored here; a stored value the backbone disagrees with is an error.
        image_size (`int`, *optional*, defaults to 380):
            Side of the square `pixel_values` the model accepts.
        projection_dim (`int`, *optional*, defaults to 512):
            Size of the common space both modalities are projected to.
        num_attention_heads (`int`, *optional*, defaults to 8):
            Heads of the cross-modal attention; must divide `projection_dim`.
        head_hidden_sizes (`list[int]`, *optional*, defaults to `[768, 384, 192]`):
            Hidden layers of the regression head. Each is Linear → LayerNorm → GELU → Dropout, except the last
            one, which has no LayerNorm (as in the design); a final Linear maps to the price.
        dropout (`float`, *optional*, defaults to 0.35):
            Dropout after the projections and after every hidden layer of the head.
        cross_attention (`str`, *optional*, defaults to `"tokens"`):
            What the image vector attends to. `"tokens"`: the projected text token states, padding masked out.
            `"pooled"`: the projected text vector only (`[CLS]` as designed; attention over a single key
            returns its value, so the attended vector is a learned linear map of the text vector).
        text_attends_image (`bool`, *optional*, defaults to `False`):
            Also let the text vector attend to the projected image feature-map positions (a second attention
            block); its output is appended to the fused vector, which grows by `projection_dim`. Numeric and
            categorical features (`numeric_feature_names`, `categorical_feature_names`), when the model has
            them, are embedded, projected and appended to it too.
        modalities (`str`, *optional*, defaults to `"both"`):
            Ablation switch. `"text"`: the image is always treated as missing (its learned placeholder is used
            and the image encoder never runs); `"image"`: the same for the text.
        image_encoder_bn_eval_when_frozen (`bool`, *optional*, defaults to `True`):
            While every parameter of the image encoder is frozen (e.g. during `FreezeWarmupCallback`'s
            warm-up), keep its BatchNorm layers in eval mode, so that training the head does not overwrite the
            pretrained running statistics. The design leaves them in training mode; set `False` for that.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of the model's own linear layers and placeholders.
            The encoders keep their own initialisation (or pretrained weights).

    Example:

    ```python
    >>> from transformers import BertConfig
    >>> from hf_pricer import DualEncoderConfig, DualEncoderForPriceRegression
    >>> text_config = BertConfig(
    ...     hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    ... )
    >>> config = DualEncoderConfig(
    ...     text_config=text_config, image_encoder="efficientnet_lite0", image_size=64, projection_dim=32,
    ...     num_attention_heads=4, head_hidden_sizes=[32, 16, 8],
    ... )
    >>> model = DualEncoderForPriceRegression(config)
    ```
    """

    model_type = "hf_pricer_dual_encoder"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    text_config: PreTrainedConfig | dict | None = None
    text_pooling: str = "cls"
    image_encoder: str = "efficientnet_b4"
    image_feature_dim: int | None = None
    image_size: int = 380
    projection_dim: int = 512
    num_attention_heads: int = 8
    head_hidden_sizes: list[int] | tuple[int, ...] = (768, 384, 192)
    dropout: float | int = 0.35
    cross_attention: str = "tokens"
    text_attends_image: bool = False
    modalities: str = "both"
    image_encoder_bn_eval_when_frozen: bool = True
    initializer_range: float = 0.02
    # the design's loss and price floor
    loss_type: str = "smape"
    min_price: float | int = 0.01

    def __post_init__(self, **kwargs):
        self.head_hidden_sizes = list(self.head_hidden_sizes)
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Part of `@strict`-powered validation."""
        import timm

        if not timm.is_model(self.image_encoder):
            raise ValueError(
                "`image_encoder` must be a timm architecture (see `timm.list_models()`), got "
                f"{self.image_encoder!r}"
            )
        for name in ("image_size", "projection_dim", "num_attention_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}")
        if self.image_feature_dim is not None and self.image_feature_dim < 1:
            raise ValueError(f"`image_feature_dim` must be positive or None, got {self.image_feature_dim}")
        if self.projection_dim % self.num_attention_heads:
            raise ValueError(
                f"`projection_dim` ({self.projection_dim}) must be divisible by `num_attention_heads` "
                f"({self.num_attention_heads})"
            )
        if not self.head_hidden_sizes or any(size < 1 for size in self.head_hidden_sizes):
            raise ValueError(
                f"`head_hidden_sizes` must be a non-empty list of positive sizes, got "
                f"{self.head_hidden_sizes}"
            )
        if self.cross_attention not in CROSS_ATTENTION_MODES:
            raise ValueError(
                f"`cross_attention` must be one of {CROSS_ATTENTION_MODES}, got {self.cross_attention!r}"
            )
        if self.modalities not in MODALITIES:
            raise ValueError(f"`modalities` must be one of {MODALITIES}, got {self.modalities!r}")
        if self.text_pooling not in TEXT_POOLING:
            raise ValueError(f"`text_pooling` must be one of {TEXT_POOLING}, got {self.text_pooling!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")


__all__ = ["DualEncoderConfig"]
